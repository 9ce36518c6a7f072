import type { WasmRuntime } from "./runtime.ts";
// Placeholder: replaced by the bloom implementation.
export function wasmBloom(_runtime: WasmRuntime) {
  return {};
}
