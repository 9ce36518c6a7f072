/** An assertion failure is a bug in pgz, never a user error: it is not a PgzError. */
export class AssertionError extends Error {
  constructor(message: string) {
    super(`pgz assertion failed: ${message}`);
    this.name = "AssertionError";
  }
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}
