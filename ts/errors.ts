/**
 * The one error class pgz throws for anything a caller can cause or meet: a stable string
 * `code` to branch on (as in the Level ecosystem), and for corruption the file and offset.
 * Assertion failures (ts/assert.ts) are bugs and are not PgzErrors.
 */
export type PgzErrorCode =
  | "PGZ_CORRUPTION"
  | "PGZ_IO"
  | "PGZ_CONFLICT"
  | "PGZ_CLOSED"
  | "PGZ_LOCKED"
  | "PGZ_INVALID_ARGUMENT"
  | "PGZ_NOT_FOUND"
  | "PGZ_READ_ONLY"
  | "PGZ_TXN_TOO_LARGE"
  | "PGZ_CHANGES_TRUNCATED"
  | "PGZ_DECODE_FAILED";

export interface PgzErrorDetails {
  file?: string;
  offset?: number;
  expected?: number;
  actual?: number;
  cause?: unknown;
}

export class PgzError extends Error {
  readonly code: PgzErrorCode;
  readonly file?: string;
  readonly offset?: number;
  readonly expected?: number;
  readonly actual?: number;

  constructor(code: PgzErrorCode, message: string, details: PgzErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "PgzError";
    this.code = code;
    if (details.file !== undefined) this.file = details.file;
    if (details.offset !== undefined) this.offset = details.offset;
    if (details.expected !== undefined) this.expected = details.expected;
    if (details.actual !== undefined) this.actual = details.actual;
  }
}

export function invalidArgument(message: string): PgzError {
  return new PgzError("PGZ_INVALID_ARGUMENT", message);
}

/** Corruption found inside a buffer; the caller that knows the file adds it with `locate`. */
export function corruption(message: string, details: PgzErrorDetails = {}): PgzError {
  const where = details.file === undefined ? "" : ` in ${details.file}` + (details.offset === undefined ? "" : ` at offset ${details.offset}`);
  return new PgzError("PGZ_CORRUPTION", message + where, details);
}

/** Re-throws a corruption error from a buffer decoder with the file and offset it came from. */
export function locateCorruption(error: unknown, file: string, offset: number): unknown {
  if (error instanceof PgzError && error.code === "PGZ_CORRUPTION" && error.file === undefined) {
    return corruption(error.message, { file, offset, expected: error.expected, actual: error.actual, cause: error });
  }
  return error;
}

/** What checkOptions names in an error: `what`, with the index of a batch's operation (made only then). */
function optionsName(what: string, index: number | undefined): string {
  return index === undefined ? what : `${what} ${index}`;
}

/**
 * Checks that `options` is a plain options object (not null, not an array) whose every key is
 * one of `names`: an unknown or misspelt option is an error, never silently ignored (a
 * misspelt `gte` would otherwise scan everything). Returns it typed.
 */
export function checkOptions<T extends object>(options: T, names: readonly string[], what: string, index?: number): T {
  // A plain object: an array, a Map or a Date has no option names to check, and would pass as "no options".
  const prototype = typeof options === "object" && options !== null ? Object.getPrototypeOf(options) : undefined;
  if (prototype !== Object.prototype && prototype !== null) throw invalidArgument(`${optionsName(what, index)} must be a plain object`);
  // for-in, not Object.keys: no array per call (every operation of every batch comes here). It
  // also walks inherited names, which only a polluted Object.prototype has: those are skipped.
  for (const name in options) {
    if (!names.includes(name)) {
      if (!Object.hasOwn(options, name)) continue;
      throw invalidArgument(`unknown option ${name} in ${optionsName(what, index)}; expected one of ${names.join(", ")}`);
    }
    // Only undefined means "not given"; null is a wrong type like any other.
    if ((options as Record<string, unknown>)[name] === null) throw invalidArgument(`option ${name} in ${optionsName(what, index)} must not be null`);
  }
  return options;
}
