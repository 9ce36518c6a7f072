/**
 * The memtable of the WASM core: a handle to an assembly/skiplist.ts memtable. Inputs are
 * validated here (a trap would poison the instance), staged once, and handled in one call.
 */
import { invalidArgument } from "../../errors.ts";
import { KIND_SEEK, TRAILER_BYTES, type Cursor, type Memtable, type Hit, type PointBatch, type Run } from "../types.ts";
import { WasmPointBatch } from "./lookup-batch.ts";
import { CURSOR_BYTES_TARGET, checkBytesTarget, checkCursorStart, checkGetArguments, countRunEntries } from "../checks.ts";
import { asWasmRun } from "./run.ts";
import type { WasmRuntime } from "./runtime.ts";

interface SkiplistExports {
  memtableNew(): number;
  memtableFree(memtable: number): void;
  memtableCount(memtable: number): number;
  memtableArenaBytes(memtable: number): number;
  memtableInsert(memtable: number, run: number, length: number): number;
  memtableGet(memtable: number, key: number, keyLength: number): number;
  memtableGetMany(memtable: number, batch: number, from: number, to: number): void;
  memtableCursorNew(memtable: number, reverse: boolean, hasStart: boolean, start: number, startLength: number): number;
  memtableCursorFree(cursor: number): void;
  memtableCursorFill(cursor: number, run: number, bytesTarget: number): number;
}

const TWO_POW_24 = 0x100_0000;
/** Node header offsets (assembly/skiplist.ts): the node pointer points at prev. */
const NODE_VALUE_LENGTH = 8;
const NODE_VALUE = 12;
const NODE_KEY = 16;

/**
 * A buffer in WASM memory for seek keys, owned by the module rather than the shared staging
 * area, so a get() costs one call (its pointer never moves: memory growth keeps addresses).
 */
class SeekKeyBuffer {
  private pointer = 0;
  private capacity = 0;

  constructor(private readonly runtime: WasmRuntime) {}

  reserve(bytes: number): number {
    if (bytes > this.capacity) {
      if (this.pointer !== 0) this.runtime.exports.memoryFree(this.pointer);
      this.capacity = Math.max(256, 2 ** Math.ceil(Math.log2(bytes)));
      this.pointer = this.runtime.exports.memoryAllocate(this.capacity);
    }
    return this.pointer;
  }
}

class WasmMemtable implements Memtable {
  private handleOrZero: number;

  constructor(
    readonly runtime: WasmRuntime,
    private readonly exports: SkiplistExports,
    private readonly seekKeys: SeekKeyBuffer,
  ) {
    runtime.checkUsable();
    this.handleOrZero = exports.memtableNew();
  }

  get handle(): number {
    if (this.handleOrZero === 0) throw invalidArgument("memtable used after free()");
    return this.handleOrZero;
  }

  get count(): number {
    return this.exports.memtableCount(this.handle);
  }

  get arenaBytes(): number {
    return this.exports.memtableArenaBytes(this.handle);
  }

  getMany(batch: PointBatch, from: number, to: number): void {
    const handle = this.handle;
    this.runtime.checkUsable();
    if (!(batch instanceof WasmPointBatch) || batch.runtime !== this.runtime || batch.pointer === 0) throw invalidArgument("a memtable takes a live point batch of its own core");
    if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || from > to || to > batch.count) throw invalidArgument(`slots [${from}, ${to}) of a batch of ${batch.count}`);
    this.exports.memtableGetMany(handle, batch.pointer, from, to);
  }

  insert(run: Uint8Array): void {
    const handle = this.handle;
    if (!(run instanceof Uint8Array)) throw invalidArgument("run must be a Uint8Array");
    countRunEntries(run);
    this.runtime.checkUsable();
    const pointer = this.runtime.stage(run);
    const duplicate = this.exports.memtableInsert(handle, pointer, run.length);
    if (duplicate >= 0) throw invalidArgument(`run entry ${duplicate} repeats an internal key already in the memtable`);
  }

  get(userKey: Uint8Array, sequence: number): Hit | undefined {
    const handle = this.handle;
    checkGetArguments(userKey, sequence);
    this.runtime.checkUsable();
    const keyLength = userKey.length + TRAILER_BYTES;
    const key = this.seekKeys.reserve(keyLength);
    const low24 = sequence % TWO_POW_24;
    let view = this.runtime.view;
    this.runtime.u8.set(userKey, key);
    view.setUint32(key + userKey.length, low24 * 256 + KIND_SEEK, true);
    view.setUint32(key + userKey.length + 4, (sequence - low24) / TWO_POW_24, true);
    const node = this.exports.memtableGet(handle, key, keyLength);
    if (node === 0) return undefined;
    view = this.runtime.view;
    const trailerAt = node + NODE_KEY + userKey.length;
    const trailerLow = view.getUint32(trailerAt, true);
    const valueAt = view.getUint32(node + NODE_VALUE, true);
    return {
      kind: trailerLow & 0xff,
      sequence: view.getUint32(trailerAt + 4, true) * TWO_POW_24 + (trailerLow >>> 8),
      value: this.runtime.copyValueOut(valueAt, view.getUint32(node + NODE_VALUE_LENGTH, true)),
    };
  }

  cursor(reverse: boolean, start?: Uint8Array): Cursor {
    const handle = this.handle;
    checkCursorStart(start);
    this.runtime.checkUsable();
    const pointer = start === undefined ? 0 : this.runtime.stage(start);
    const cursor = this.exports.memtableCursorNew(handle, reverse === true, start !== undefined, pointer, start?.length ?? 0);
    return new WasmMemtableCursor(this, this.exports, cursor);
  }

  free(): void {
    if (this.handleOrZero !== 0) this.exports.memtableFree(this.handleOrZero);
    this.handleOrZero = 0;
  }
}

class WasmMemtableCursor implements Cursor {
  constructor(
    private readonly memtable: WasmMemtable,
    private readonly exports: SkiplistExports,
    private handleOrZero: number,
  ) {}

  fill(run: Run, bytesTarget = CURSOR_BYTES_TARGET): number {
    if (this.handleOrZero === 0) throw invalidArgument("cursor used after free()");
    // The cursor walks the memtable's arena: the memtable must still be alive.
    void this.memtable.handle;
    const out = asWasmRun(run, this.memtable.runtime).handle;
    const target = checkBytesTarget(bytesTarget);
    this.memtable.runtime.checkUsable();
    return this.exports.memtableCursorFill(this.handleOrZero, out, target);
  }

  free(): void {
    if (this.handleOrZero !== 0) this.exports.memtableCursorFree(this.handleOrZero);
    this.handleOrZero = 0;
  }
}

export function wasmSkiplist(runtime: WasmRuntime) {
  const exports = runtime.exports as unknown as SkiplistExports;
  const seekKeys = new SeekKeyBuffer(runtime);
  return { newMemtable: (): Memtable => new WasmMemtable(runtime, exports, seekKeys) };
}
