import type { WasmRuntime } from "./runtime.ts";
// Placeholder: replaced by the skiplist implementation.
export function wasmSkiplist(_runtime: WasmRuntime) {
  return {};
}
