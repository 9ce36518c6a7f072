import type { WasmRuntime } from "./runtime.ts";
// Placeholder: replaced by the block implementation.
export function wasmBlock(_runtime: WasmRuntime) {
  return {};
}
