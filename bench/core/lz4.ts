/**
 * LZ4 block compression on data shaped like db_bench's (--compression_ratio=0.5): 16 B keys and
 * 100 B values that are a random half repeated twice, cut into 4 KiB blocks as a table's data
 * blocks are. The WASM figures include copying input in and output out (what a caller pays).
 * MB/s count uncompressed bytes both ways; the workload line gives the compressed ratio.
 */
import type { BenchCase } from "./harness.ts";
import { createPureCore } from "../../ts/core/pure/index.ts";

const BLOCK_BYTES = 4096;
/** Small enough that a round takes a few milliseconds (see PGZ_BENCH_STAT in bench/core.ts). */
const TOTAL_BYTES = 4 * 1024 * 1024;

/** Deterministic db_bench-like records (an LCG), identical for both cores. */
function halfCompressibleBlocks(): Uint8Array[] {
  let state = 0x9e3779b9;
  const nextByte = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state >>> 24;
  };
  const blocks: Uint8Array[] = [];
  for (let total = 0; total < TOTAL_BYTES; total += BLOCK_BYTES) {
    const block = new Uint8Array(BLOCK_BYTES);
    for (let at = 0; at + 116 <= BLOCK_BYTES; at += 116) {
      block.set(new TextEncoder().encode(String(total + at).padStart(16, "0")), at);
      for (let i = 0; i < 50; i++) block[at + 16 + i] = nextByte();
      block.copyWithin(at + 66, at + 16, at + 66);
    }
    blocks.push(block);
  }
  return blocks;
}

let inputs: { blocks: Uint8Array[]; compressed: Uint8Array[] } | undefined;
function prepared() {
  if (inputs) return inputs;
  const blocks = halfCompressibleBlocks();
  const core = createPureCore();
  inputs = { blocks, compressed: blocks.map((block) => core.lz4Compress(block)!) };
  return inputs;
}

const ratio = () => {
  const { blocks, compressed } = prepared();
  return (compressed.reduce((sum, block) => sum + block.length, 0) / (blocks.length * BLOCK_BYTES)).toFixed(3);
};

export const cases: BenchCase[] = [
  {
    hotPath: "lz4",
    get workload() {
      return `compress 4 MiB as 4 KiB blocks, half-compressible (ratio ${ratio()})`;
    },
    unit: "MB/s",
    prepare(core) {
      const { blocks } = prepared();
      for (let i = 0; i < 3; i++) for (const block of blocks) core.lz4Compress(block);
      return () => {
        for (const block of blocks) core.lz4Compress(block);
        return blocks.length * BLOCK_BYTES;
      };
    },
  },
  {
    hotPath: "lz4",
    workload: "decompress the same blocks",
    unit: "MB/s",
    prepare(core) {
      const { compressed } = prepared();
      for (let i = 0; i < 3; i++) for (const block of compressed) core.lz4Decompress(block, BLOCK_BYTES);
      return () => {
        for (let round = 0; round < 4; round++) for (const block of compressed) core.lz4Decompress(block, BLOCK_BYTES);
        return 4 * compressed.length * BLOCK_BYTES;
      };
    },
  },
];
