/**
 * CRC32C on the WebAssembly core (assembly/crc32c.ts). Input from JS memory must be copied into
 * WebAssembly memory first: large inputs go through staging one chunk at a time, each chunk
 * extending the previous CRC, so staging stays small and the copy of one chunk overlaps nothing
 * but stays in cache for the CRC that reads it. Input already in WebAssembly memory (a readBuffer,
 * where the value log reads records) is checked in place. Masking is plain arithmetic, shared with the
 * TS core through ts/core/checks.ts (a boundary crossing would cost more than it does).
 */
import { checkCrc, checkRanges, checkReadBufferLength, crc32cMask, crc32cUnmask, readBufferCapacity } from "../checks.ts";
import { invalidArgument } from "../../errors.ts";
import type { WasmRuntime } from "./runtime.ts";

interface Crc32cExports {
  crc32cCompute(pointer: number, length: number, crc: number): number;
  crc32cEachCompute(data: number, starts: number, ends: number, count: number, out: number): void;
}

/** Bytes copied and checksummed per call: large enough to amortise the call, small enough for L2. */
const CHUNK_BYTES = 256 * 1024;
/** crc32cEach stages the whole input up to this size; beyond it, each range goes by chunks. */
const EACH_STAGED_BYTES_MAX = 8 * 1024 * 1024;

const align8 = (bytes: number): number => (bytes + 7) & ~7;

function minStart(starts: Uint32Array): number {
  let low = starts[0]!;
  for (let i = 1; i < starts.length; i++) if (starts[i]! < low) low = starts[i]!;
  return low;
}

function maxEnd(ends: Uint32Array): number {
  let high = ends[0]!;
  for (let i = 1; i < ends.length; i++) if (ends[i]! > high) high = ends[i]!;
  return high;
}

/** Core.readBuffer: bytes allocated in core memory once, grown when asked for more, kept for the instance's life. */
function readBufferOf(runtime: WasmRuntime): (length: number) => Uint8Array {
  let readPointer = 0;
  let readCapacityBytes = 0;
  return (length) => {
    checkReadBufferLength(length);
    runtime.checkUsable();
    if (length > readCapacityBytes) {
      const capacity = readBufferCapacity(length, readCapacityBytes);
      if (readPointer !== 0) runtime.exports.memoryFree(readPointer);
      readPointer = runtime.exports.memoryAllocate(capacity);
      readCapacityBytes = capacity;
    }
    return runtime.u8.subarray(readPointer, readPointer + length);
  };
}

export function wasmCrc32c(runtime: WasmRuntime) {
  const exports = runtime.exports as unknown as Crc32cExports;

  function crc32c(data: Uint8Array, crc = 0): number {
    if (!(data instanceof Uint8Array)) throw invalidArgument("crc32c data must be a Uint8Array");
    checkCrc(crc, "crc");
    runtime.checkUsable();
    // Bytes already in core memory (a readBuffer) are checked where they are.
    const memory = runtime.u8;
    if (data.buffer === memory.buffer) return exports.crc32cCompute(data.byteOffset, data.length, crc) >>> 0;
    if (data.length <= CHUNK_BYTES) return exports.crc32cCompute(runtime.stage(data), data.length, crc) >>> 0;
    // Staging does not move between the calls of this loop: nothing in between allocates.
    const pointer = runtime.exports.stagingReserve(CHUNK_BYTES);
    let result = crc;
    for (let offset = 0; offset < data.length; offset += CHUNK_BYTES) {
      const chunk = data.subarray(offset, offset + CHUNK_BYTES);
      runtime.u8.set(chunk, pointer);
      result = exports.crc32cCompute(pointer, chunk.length, result) >>> 0;
    }
    return result;
  }

  function crc32cEach(data: Uint8Array, starts: Uint32Array, ends: Uint32Array, out: Uint32Array): void {
    checkRanges(data, starts, ends, out);
    runtime.checkUsable();
    const count = starts.length;
    if (count === 0) return;
    const low = minStart(starts);
    const high = maxEnd(ends);
    if (high - low > EACH_STAGED_BYTES_MAX) {
      for (let i = 0; i < count; i++) out[i] = crc32c(data.subarray(starts[i]!, ends[i]!));
      return;
    }
    // Only the bytes the ranges cover are copied (a caller may pass a large, mostly unused
    // buffer, as the value log does): [low, high) goes to the staging area, and the base pointer
    // handed in is shifted by -low so the ranges' offsets land on the copy (i32 arithmetic wraps).
    // One staging reservation: data | starts | ends | out, each 8-byte aligned.
    const listBytes = align8(count * 4);
    const dataPointer = runtime.exports.stagingReserve(align8(high - low) + 3 * listBytes);
    const startsPointer = dataPointer + align8(high - low);
    const endsPointer = startsPointer + listBytes;
    const outPointer = endsPointer + listBytes;
    const memory = runtime.u8;
    memory.set(data.subarray(low, high), dataPointer);
    new Uint32Array(memory.buffer, startsPointer, count).set(starts);
    new Uint32Array(memory.buffer, endsPointer, count).set(ends);
    exports.crc32cEachCompute((dataPointer - low) | 0, startsPointer, endsPointer, count, outPointer);
    out.set(new Uint32Array(runtime.u8.buffer, outPointer, count));
  }

  return { crc32c, crc32cEach, crc32cMask, crc32cUnmask, readBuffer: readBufferOf(runtime) };
}
