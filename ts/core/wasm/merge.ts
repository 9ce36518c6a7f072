import type { WasmRuntime } from "./runtime.ts";
// Placeholder: replaced by the merge implementation.
export function wasmMerge(_runtime: WasmRuntime) {
  return {};
}
