/**
 * CRC32C throughput on a 64 MiB buffer. The WASM figure includes copying the input from JS
 * memory into WebAssembly memory (through staging, chunk by chunk): that is what a caller pays.
 * A second case checksums 4 KiB blocks in one crc32cEach batch, the shape of a table's blocks.
 */
import type { BenchCase } from "./harness.ts";

const MEBIBYTE = 1024 * 1024;

/** Deterministic bytes (an LCG), identical for both cores. */
function pseudoRandomBytes(length: number): Uint8Array {
  const data = new Uint8Array(length);
  let state = 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    data[i] = state >>> 24;
  }
  return data;
}

let buffer: Uint8Array | undefined;
const input = (): Uint8Array => (buffer ??= pseudoRandomBytes(64 * MEBIBYTE));

export const cases: BenchCase[] = [
  {
    hotPath: "crc32c",
    workload: "crc32c of 64 MiB (WASM: copy in included)",
    unit: "MB/s",
    prepare(core) {
      const data = input();
      // Warm up both cores' compilers outside the timed region.
      for (let i = 0; i < 3; i++) core.crc32c(data.subarray(0, 4 * MEBIBYTE));
      return () => {
        core.crc32c(data);
        return data.length;
      };
    },
  },
  {
    hotPath: "crc32c",
    workload: "crc32cEach of 4 KiB blocks, 8 MiB in one batch",
    unit: "MB/s",
    prepare(core) {
      const data = input().subarray(0, 8 * MEBIBYTE);
      const count = data.length / 4096;
      const starts = Uint32Array.from({ length: count }, (_, i) => i * 4096);
      const ends = Uint32Array.from({ length: count }, (_, i) => (i + 1) * 4096);
      const out = new Uint32Array(count);
      for (let i = 0; i < 3; i++) core.crc32cEach(data, starts, ends, out);
      return () => {
        for (let i = 0; i < 8; i++) core.crc32cEach(data, starts, ends, out);
        return 8 * data.length;
      };
    },
  },
];
