/**
 * Table lookups on the WebAssembly core (assembly/lookup.ts has the layout and result codes):
 * a point key is written straight into its buffer in WebAssembly memory, with no call, and each
 * table it is asked of costs one call that probes the filter, searches the fences and, when
 * the block is cached, the block. Filter and index are checked here (checkFilter, blockOpen's
 * CRC and structure) before the module sees them, so it never traps on their bytes.
 */
import { corruption, invalidArgument } from "../../errors.ts";
import { checkSequence } from "../entry.ts";
import { BLOOM_PROBES_MAX, checkFilter } from "../checks.ts";
import { KIND_SEEK, LOOKUP_BLOCKS_MAX, TRAILER_BYTES, type BlockReader, type Hit, type PointBatch, type PointKey, type TableLookup } from "../types.ts";
import { WasmBlockReader, openBlockInMemory } from "./block.ts";
import { WasmPointBatch, type BatchExports } from "./lookup-batch.ts";
import type { WasmRuntime } from "./runtime.ts";

interface LookupExports extends BatchExports {
  lookupHitPointer(): number;
  pointKeyNew(capacity: number): number;
  pointKeyFree(point: number): void;
  pointKeyLayout(): number;
  tableLookupNew(filter: number, filterLength: number, index: number): number;
  tableLookupFree(lookup: number): void;
  tableLookupBlockCount(lookup: number): number;
  tableLookupSetBlock(lookup: number, index: number, reader: number): void;
  tableLookupGet(lookup: number, point: number): number;
}

/** assembly/lookup.ts's point key: header bytes, then the key; keyLength at 0, hashed at 4. */
const POINT_KEY_HEADER_BYTES = 16;
const POINT_KEY_LAYOUT = POINT_KEY_HEADER_BYTES | (0 << 8) | (4 << 16);
const POINT_KEY_CAPACITY_INITIAL = 64;
/** Keys up to this size are written byte by byte: cheaper than TypedArray.set for a few bytes. */
const KEY_COPY_LOOP_BYTES_MAX = 32;
const TWO_POW_24 = 0x100_0000;

class WasmPointKey implements PointKey {
  pointer: number;
  private capacity = POINT_KEY_CAPACITY_INITIAL;

  constructor(readonly runtime: WasmRuntime, private readonly exports: LookupExports) {
    this.pointer = exports.pointKeyNew(this.capacity);
  }

  set(userKey: Uint8Array, sequence: number): void {
    if (this.pointer === 0) throw invalidArgument("point key used after free()");
    if (!(userKey instanceof Uint8Array)) throw invalidArgument("a point key's user key must be a Uint8Array");
    this.runtime.checkUsable();
    checkSequence(sequence);
    const length = userKey.length + TRAILER_BYTES;
    if (length > this.capacity) {
      this.exports.pointKeyFree(this.pointer);
      while (this.capacity < length) this.capacity *= 2;
      this.pointer = this.exports.pointKeyNew(this.capacity);
    }
    const memory = this.runtime.u8;
    const key = this.pointer + POINT_KEY_HEADER_BYTES;
    if (userKey.length <= KEY_COPY_LOOP_BYTES_MAX) {
      for (let i = 0; i < userKey.length; i++) memory[key + i] = userKey[i]!;
    } else {
      memory.set(userKey, key);
    }
    // The trailer, sequence << 8 | KIND_SEEK, as two little-endian words.
    const view = this.runtime.view;
    const low = sequence % TWO_POW_24;
    view.setUint32(key + userKey.length, low * 256 + KIND_SEEK, true);
    view.setUint32(key + userKey.length + 4, (sequence - low) / TWO_POW_24, true);
    view.setUint32(this.pointer, length, true);
    view.setUint32(this.pointer + 4, 0, true);
  }

  free(): void {
    if (this.pointer !== 0) this.exports.pointKeyFree(this.pointer);
    this.pointer = 0;
  }
}

class WasmTableLookup implements TableLookup {
  private handleOrZero: number;
  private readonly blocks: number;
  private readonly hitPointer: number;
  /** The object every hit() fills (TableLookup.hit: read before the next call), so a get allocates only its value. */
  private readonly lastHit: Hit = { kind: 0, sequence: 0, value: new Uint8Array(0) };

  constructor(private readonly runtime: WasmRuntime, private readonly exports: LookupExports, handle: number) {
    this.handleOrZero = handle;
    this.blocks = exports.tableLookupBlockCount(handle) >>> 0;
    this.hitPointer = exports.lookupHitPointer() >>> 0;
  }

  private get handle(): number {
    if (this.handleOrZero === 0) throw invalidArgument("table lookup used after free()");
    this.runtime.checkUsable();
    return this.handleOrZero;
  }

  get blockCount(): number {
    this.handle;
    return this.blocks;
  }

  setBlock(index: number, reader: BlockReader | undefined): void {
    const handle = this.handle;
    if (!Number.isInteger(index) || index < 0 || index >= this.blocks) throw invalidArgument(`block ${index} is not one of this table's ${this.blocks}`);
    if (reader !== undefined && (!(reader instanceof WasmBlockReader) || reader.runtime !== this.runtime)) throw invalidArgument("a table lookup takes block readers of its own core");
    this.exports.tableLookupSetBlock(handle, index, reader === undefined ? 0 : reader.handle);
  }

  get(key: PointKey): number {
    const handle = this.handle;
    if (!(key instanceof WasmPointKey) || key.runtime !== this.runtime || key.pointer === 0) throw invalidArgument("a table lookup takes a live point key of its own core");
    return this.exports.tableLookupGet(handle, key.pointer);
  }

  getMany(batch: PointBatch, from: number, to: number, retry: boolean): void {
    const handle = this.handle;
    if (!(batch instanceof WasmPointBatch) || batch.runtime !== this.runtime || batch.pointer === 0) throw invalidArgument("a table lookup takes a live point batch of its own core");
    if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || from > to || to > batch.count) throw invalidArgument(`slots [${from}, ${to}) of a batch of ${batch.count}`);
    this.exports.tableLookupGetMany(handle, batch.pointer, from, to, retry ? 1 : 0);
  }

  hit(kind: number): Hit {
    this.handle;
    const view = this.runtime.view;
    const at = this.hitPointer;
    const trailerLow = view.getUint32(at, true);
    const hit = this.lastHit;
    hit.kind = kind;
    hit.sequence = view.getUint32(at + 4, true) * TWO_POW_24 + (trailerLow >>> 8);
    hit.value = this.runtime.copyValueOut(view.getUint32(at + 8, true), view.getUint32(at + 12, true));
    return hit;
  }

  free(): void {
    if (this.handleOrZero !== 0) this.exports.tableLookupFree(this.handleOrZero);
    this.handleOrZero = 0;
  }
}

function openTableLookup(runtime: WasmRuntime, exports: LookupExports, filter: Uint8Array, index: Uint8Array): TableLookup {
  const probes = checkFilter(filter);
  if (!(index instanceof Uint8Array)) throw invalidArgument("an index block must be a Uint8Array");
  runtime.checkUsable();
  const indexPointer = runtime.exports.memoryAllocate(Math.max(index.length, 1)) >>> 0;
  runtime.u8.set(index, indexPointer);
  const reader = openBlockInMemory(runtime, indexPointer, index.length) as WasmBlockReader;
  try {
    if (reader.count >= LOOKUP_BLOCKS_MAX) throw corruption(`index of ${reader.count} blocks is too large`);
    let filterPointer = 0;
    if (probes <= BLOOM_PROBES_MAX) {
      filterPointer = runtime.exports.memoryAllocate(filter.length) >>> 0;
      runtime.u8.set(filter, filterPointer);
    }
    return new WasmTableLookup(runtime, exports, exports.tableLookupNew(filterPointer, filterPointer === 0 ? 0 : filter.length, reader.handle) >>> 0);
  } finally {
    reader.free();
  }
}

export function wasmLookup(runtime: WasmRuntime) {
  const exports = runtime.exports as unknown as LookupExports;
  if (exports.pointKeyLayout() >>> 0 !== POINT_KEY_LAYOUT) throw new Error("assembly/lookup.ts PointKey layout differs from ts/core/wasm/lookup.ts");
  return {
    newPointKey: (): PointKey => new WasmPointKey(runtime, exports),
    newPointBatch: (): PointBatch => new WasmPointBatch(runtime, exports),
    openTableLookup: (filter: Uint8Array, index: Uint8Array): TableLookup => openTableLookup(runtime, exports, filter, index),
  };
}
