/** Shared by the tests: the cores every core test runs against, and seeded randomness. */
import * as assert from "uvu/assert";
import type { Core } from "../ts/core/types.ts";
import { PgzError } from "../ts/errors.ts";
import { createPureCore } from "../ts/core/pure/index.ts";
import { createDebugWasmCore, createWasmCore } from "../ts/core/wasm.ts";

/** Each core under test: the pure twin, the shipped release build, and the debug build (asserts on). */
export const coreFactories: ReadonlyArray<readonly [string, () => Core]> = [
  ["ts", () => createPureCore()],
  ["wasm", () => createWasmCore()],
  ["wasm-debug", () => createDebugWasmCore()],
];

export const textEncoder = new TextEncoder();
export const bytes = (text: string): Uint8Array => textEncoder.encode(text);

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
export { random } from "./random.ts";

/** A fresh temporary directory; remove it with removeDirectory when done. */
export function temporaryDirectory(label = "pgz"): string {
  return mkdtempSync(join(tmpdir(), `${label}-`));
}

export function removeDirectory(directory: string): void {
  rmSync(directory, { recursive: true, force: true });
}

export const textDecoder = new TextDecoder();
export const text = (value: Uint8Array | undefined): string | undefined => (value === undefined ? undefined : textDecoder.decode(value));

/** The engine runs on these cores in every engine test. */
export const engineCores = ["ts", "wasm"] as const;

/**
 * Runs `action`, which must throw a PgzError with `code` (and never one from a trapped WASM
 * instance); returns it. `what` names the case in failure messages; `messagePattern`, if given,
 * must match the message.
 */
export function expectCode(code: string, action: () => unknown, what?: string, messagePattern?: RegExp): PgzError {
  try {
    action();
  } catch (error) {
    assert.ok(error instanceof PgzError, `${what ?? "expected " + code}: not a PgzError: ${String(error)}`);
    assert.is(error.code, code, what ?? error.message);
    assert.not.match(error.message, /WebAssembly core aborted|poisoned/, what);
    if (messagePattern) assert.match(error.message, messagePattern);
    return error;
  }
  assert.unreachable(`${what ?? "expected " + code}: did not throw`);
  throw new Error("unreachable");
}

export function throwsInvalid(action: () => unknown, what: string): void {
  expectCode("PGZ_INVALID_ARGUMENT", action, what);
}

/** Byte equality with a short message (uvu's diff of a large array is unreadable). */
export function sameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  if (Buffer.compare(actual, expected) === 0) return;
  let at = 0;
  while (at < actual.length && at < expected.length && actual[at] === expected[at]) at++;
  assert.unreachable(`${what}: ${actual.length} bytes, expected ${expected.length}; first difference at ${at}`);
}
