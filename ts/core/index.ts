/** Picks a core by name. Both implement the same Core interface (./types.ts). */
import { invalidArgument } from "../errors.ts";
import type { Core, CoreName } from "./types.ts";
import { createWasmCore } from "./wasm.ts";
import { createPureCore } from "./pure/index.ts";

export function createCore(name: CoreName = "wasm"): Core {
  if (name === "wasm") return createWasmCore();
  if (name === "ts") return createPureCore();
  throw invalidArgument(`core must be "wasm" or "ts", got ${typeof name === "string" ? JSON.stringify(name) : typeof name}`);
}

export * from "./types.ts";
