/**
 * Bloom filters on the WebAssembly core (assembly/bloom.ts). The builder's hashes and an opened
 * filter live in WebAssembly memory; add() and mayContain() copy only the key, addFromRun()
 * hashes a run in place. Sizing and validation are shared with the TS core (ts/core/checks.ts).
 */
import { invalidArgument } from "../../errors.ts";
import type { BloomBuilder, BloomFilter, Run } from "../types.ts";
import { BLOOM_PROBES_MAX, bloomShape, checkBloomKey, checkFilter, checkRunRange } from "../checks.ts";
import { asWasmRun } from "./run.ts";
import type { WasmRuntime } from "./runtime.ts";

interface BloomExports {
  bloomBuilderNew(): number;
  bloomBuilderFree(builder: number): void;
  bloomBuilderCount(builder: number): number;
  bloomBuilderAdd(builder: number, key: number, length: number): void;
  bloomBuilderAddFromRun(builder: number, run: number, from: number, to: number): void;
  bloomBuilderFinish(builder: number, k: number, bytes: number): number;
  bloomMayContain(filter: number, length: number, key: number, keyLength: number): number;
}

/** Keys up to this size are copied byte by byte: cheaper than TypedArray.set for a few bytes. */
const KEY_COPY_LOOP_BYTES_MAX = 32;
const KEY_SCRATCH_BYTES_INITIAL = 256;

/**
 * A buffer in WebAssembly memory owned by one builder or filter, for the key of each call:
 * unlike staging it needs no reservation call per key, so add() and mayContain() cross the
 * boundary once.
 */
class KeyScratch {
  pointer: number;
  private capacity: number;
  /**
   * A view over WebAssembly memory, kept between calls only because it is checked before each
   * use: growing memory detaches the old buffer, which leaves this view with length 0. Asking
   * runtime.u8 every time would read WebAssembly.Memory#buffer, a slow API call per key.
   */
  private memory: Uint8Array = new Uint8Array(0);

  constructor(private readonly runtime: WasmRuntime) {
    this.capacity = KEY_SCRATCH_BYTES_INITIAL;
    this.pointer = runtime.exports.memoryAllocate(this.capacity);
  }

  /** Copies `key` in and returns its pointer. */
  put(key: Uint8Array): number {
    const length = key.length;
    if (length > this.capacity) {
      this.runtime.exports.memoryFree(this.pointer);
      while (this.capacity < length) this.capacity *= 2;
      this.pointer = this.runtime.exports.memoryAllocate(this.capacity);
    }
    // After retirement the memory may be another core's: u8 throws PGZ_CLOSED instead.
    if (this.memory.length === 0 || this.runtime.retired) this.memory = this.runtime.u8;
    const memory = this.memory;
    const pointer = this.pointer;
    if (length <= KEY_COPY_LOOP_BYTES_MAX) {
      for (let i = 0; i < length; i++) memory[pointer + i] = key[i]!;
    } else {
      memory.set(key, pointer);
    }
    return pointer;
  }

  free(): void {
    this.runtime.exports.memoryFree(this.pointer);
    this.pointer = 0;
  }
}

class WasmBloomBuilder implements BloomBuilder {
  private handleOrZero: number;
  private readonly keyScratch: KeyScratch;

  constructor(
    private readonly runtime: WasmRuntime,
    private readonly exports: BloomExports,
  ) {
    this.handleOrZero = exports.bloomBuilderNew();
    this.keyScratch = new KeyScratch(runtime);
  }

  private get handle(): number {
    if (this.handleOrZero === 0) throw invalidArgument("bloom builder used after free()");
    this.runtime.checkUsable();
    return this.handleOrZero;
  }

  get count(): number {
    return this.exports.bloomBuilderCount(this.handle);
  }

  add(userKey: Uint8Array): void {
    const handle = this.handle;
    checkBloomKey(userKey);
    this.exports.bloomBuilderAdd(handle, this.keyScratch.put(userKey), userKey.length);
  }

  addFromRun(run: Run, from: number, to: number): void {
    const handle = this.handle;
    const wasmRun = asWasmRun(run, this.runtime);
    checkRunRange(from, to, wasmRun.count);
    this.exports.bloomBuilderAddFromRun(handle, wasmRun.handle, from, to);
  }

  finish(bitsPerKey: number): Uint8Array {
    const handle = this.handle;
    const { k, bytes } = bloomShape(this.exports.bloomBuilderCount(handle), bitsPerKey);
    const pointer = this.exports.bloomBuilderFinish(handle, k, bytes);
    return this.runtime.copyOut(pointer, bytes + 1);
  }

  free(): void {
    if (this.handleOrZero === 0) return;
    this.exports.bloomBuilderFree(this.handleOrZero);
    this.keyScratch.free();
    this.handleOrZero = 0;
  }
}

class WasmBloomFilter implements BloomFilter {
  /** The filter's copy in WebAssembly memory; 0 once freed, or never made when k > 30. */
  private pointer = 0;
  private freed = false;
  private readonly keyScratch: KeyScratch | undefined;
  private readonly length: number;
  private readonly matchesEverything: boolean;

  constructor(
    private readonly runtime: WasmRuntime,
    private readonly exports: BloomExports,
    filter: Uint8Array,
  ) {
    this.matchesEverything = checkFilter(filter) > BLOOM_PROBES_MAX;
    this.length = filter.length;
    runtime.checkUsable();
    if (!this.matchesEverything) {
      this.pointer = runtime.exports.memoryAllocate(filter.length);
      runtime.u8.set(filter, this.pointer);
      this.keyScratch = new KeyScratch(runtime);
    }
  }

  mayContain(userKey: Uint8Array): boolean {
    if (this.freed) throw invalidArgument("bloom filter used after free()");
    checkBloomKey(userKey);
    if (this.matchesEverything) return true;
    this.runtime.checkUsable();
    const key = this.keyScratch!.put(userKey);
    return this.exports.bloomMayContain(this.pointer, this.length, key, userKey.length) !== 0;
  }

  free(): void {
    if (this.freed) return;
    if (this.pointer !== 0) this.runtime.exports.memoryFree(this.pointer);
    this.keyScratch?.free();
    this.pointer = 0;
    this.freed = true;
  }
}

export function wasmBloom(runtime: WasmRuntime) {
  const exports = runtime.exports as unknown as BloomExports;
  return {
    newBloomBuilder: (): BloomBuilder => new WasmBloomBuilder(runtime, exports),
    openBloom: (filter: Uint8Array): BloomFilter => new WasmBloomFilter(runtime, exports, filter),
  };
}
