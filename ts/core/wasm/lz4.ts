/**
 * LZ4 block compression in WebAssembly memory (assembly/lz4.ts): the input and the output
 * share one staging reservation, so a call allocates nothing in the module; the result is
 * copied out. Arguments are checked here (the module never traps on them), and the module's
 * decompressor bounds every read and write by the two buffers, so hostile input is a status.
 */
import { checkCompressArguments, checkDecompressArguments, lz4CompressBound, lz4CorruptionError } from "../checks.ts";
import type { BlockReader } from "../types.ts";
import { openBlockInMemory } from "./block.ts";
import type { WasmRuntime } from "./runtime.ts";

interface Lz4Exports {
  stagingReserve(bytes: number): number;
  memoryAllocate(bytes: number): number;
  memoryFree(pointer: number): void;
  lz4Compress(src: number, length: number, dst: number, capacity: number): number;
  lz4Decompress(src: number, length: number, dst: number, capacity: number): number;
}

const align8 = (bytes: number) => (bytes + 7) & ~7;

export function wasmLz4(runtime: WasmRuntime) {
  const exports = runtime.exports as unknown as Lz4Exports;
  return {
    lz4Compress(data: Uint8Array, capacityBytes = lz4CompressBound(data.length)): Uint8Array | undefined {
      checkCompressArguments(data, capacityBytes);
      runtime.checkUsable();
      const source = exports.stagingReserve(align8(data.length) + capacityBytes) >>> 0;
      const target = source + align8(data.length);
      runtime.u8.set(data, source);
      const length = exports.lz4Compress(source, data.length, target, capacityBytes) >>> 0;
      return length === 0 ? undefined : runtime.copyOut(target, length);
    },
    lz4Decompress(compressed: Uint8Array, length: number): Uint8Array {
      checkDecompressArguments(compressed, length);
      runtime.checkUsable();
      const source = exports.stagingReserve(align8(compressed.length) + length) >>> 0;
      const target = source + align8(compressed.length);
      runtime.u8.set(compressed, source);
      if (exports.lz4Decompress(source, compressed.length, target, length) !== length) throw lz4CorruptionError(compressed.length, length);
      return runtime.copyOut(target, length);
    },
    openCompressedBlock(compressed: Uint8Array, rawLength: number): BlockReader {
      checkDecompressArguments(compressed, rawLength);
      runtime.checkUsable();
      // Decoded straight into the memory the block reader takes over: no copy out and back in.
      const target = exports.memoryAllocate(Math.max(rawLength, 1)) >>> 0;
      const source = runtime.stage(compressed);
      if (exports.lz4Decompress(source, compressed.length, target, rawLength) !== rawLength) {
        exports.memoryFree(target);
        throw lz4CorruptionError(compressed.length, rawLength);
      }
      return openBlockInMemory(runtime, target, rawLength);
    },
  };
}
