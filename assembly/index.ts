// The WebAssembly core's exports: one line per module. Only ts/core/wasm.ts loads this.
export * from "./memory";
export * from "./format";
export { runNew, runFree, runClear, runPointer, runByteLength, runCount, runAppendEncoded } from "./run";
export * from "./crc32c";
export * from "./bloom";
export * from "./block";
export * from "./skiplist";
export * from "./merge";
export * from "./lz4";
