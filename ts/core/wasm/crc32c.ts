import type { WasmRuntime } from "./runtime.ts";
// Placeholder: replaced by the crc32c implementation.
export function wasmCrc32c(_runtime: WasmRuntime) {
  return {};
}
