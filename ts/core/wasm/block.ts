/**
 * Data blocks in WebAssembly memory: handles to the builders, readers and cursors of
 * assembly/block.ts (the byte grammar is there and in ts/format.ts). Every argument is checked
 * here before the call, so the module never traps; a block is copied into WebAssembly memory
 * once at open and validated there, and the reader owns that copy until free().
 */
import { BLOCK_RESTART_INTERVAL } from "../../format.ts";
import { invalidArgument } from "../../errors.ts";
import { TRAILER_BYTES, type BlockBuilder, type BlockReader, type Cursor, type Hit, type Run } from "../types.ts";
import { blockCorruptionError, checkEntry, checkRestartInterval, checkRunArguments } from "../checks.ts";
import { asWasmRun } from "./run.ts";
import type { WasmRuntime } from "./runtime.ts";

const FILL_BYTES_DEFAULT = 64 * 1024;
const TWO_POW_24 = 0x100_0000;
/** blockOpen results below this are corruption codes, not reader pointers. */
const OPEN_ERROR_LIMIT = 16;
/** Byte offsets of the Position fields the host reads directly (assembly/block.ts). */
const POSITION_KEY_POINTER = 0;
const POSITION_KEY_LENGTH = 4;
const POSITION_VALUE_POINTER = 8;
const POSITION_VALUE_LENGTH = 12;
const POSITION_VALID = 16;
const POSITION_LAYOUT = POSITION_KEY_LENGTH | (POSITION_VALUE_POINTER << 8) | (POSITION_VALUE_LENGTH << 16) | (POSITION_VALID << 24);

interface BlockExports {
  stagingReserve(bytes: number): number;
  memoryAllocate(bytes: number): number;
  blockBuilderNew(restartInterval: number): number;
  blockBuilderFree(builder: number): void;
  blockBuilderAdd(builder: number, key: number, keyLength: number, value: number, valueLength: number): number;
  blockBuilderAddFromRun(builder: number, run: number, from: number, target: number): number;
  blockBuilderFinish(builder: number): number;
  blockBuilderPointer(builder: number): number;
  blockBuilderCount(builder: number): number;
  blockBuilderSizeEstimate(builder: number): number;
  blockBuilderLastKeyPointer(builder: number): number;
  blockBuilderLastKeyLength(builder: number): number;
  blockUnsortedIndex(): number;
  blockOpen(data: number, length: number): number;
  blockCorruptionExpected(): number;
  blockCorruptionActual(): number;
  blockCorruptionOffset(): number;
  blockReaderFree(reader: number): void;
  blockFirst(position: number): number;
  blockLast(position: number): number;
  blockNext(position: number): number;
  blockPrev(position: number): number;
  blockSeek(position: number, target: number, targetLength: number): number;
  blockGet(position: number, target: number, targetLength: number): number;
  blockPositionLayout(): number;
  blockCursorNew(reader: number, reverse: number): number;
  blockCursorFree(cursor: number): void;
  blockCursorFill(cursor: number, run: number, reverse: number, target: number): number;
}

class WasmBlockBuilder implements BlockBuilder {
  private handleOrZero: number;

  constructor(private readonly runtime: WasmRuntime, private readonly exports: BlockExports, restartInterval: number) {
    this.handleOrZero = exports.blockBuilderNew(restartInterval);
  }

  private get handle(): number {
    if (this.handleOrZero === 0) throw invalidArgument("block builder used after free()");
    this.runtime.checkUsable();
    return this.handleOrZero;
  }

  get count(): number {
    return this.exports.blockBuilderCount(this.handle) >>> 0;
  }

  get sizeEstimate(): number {
    return this.exports.blockBuilderSizeEstimate(this.handle) >>> 0;
  }

  lastKey(): Uint8Array {
    const handle = this.handle;
    const pointer = this.exports.blockBuilderLastKeyPointer(handle) >>> 0;
    return this.runtime.copyOut(pointer, this.exports.blockBuilderLastKeyLength(handle) >>> 0);
  }

  add(internalKey: Uint8Array, value: Uint8Array): void {
    const handle = this.handle;
    checkEntry(internalKey, value);
    const keyLength = internalKey.length;
    // One staging reservation for key and value, then one call.
    const pointer = this.exports.stagingReserve(keyLength + value.length) >>> 0;
    const memory = this.runtime.u8;
    memory.set(internalKey, pointer);
    memory.set(value, pointer + keyLength);
    if (this.exports.blockBuilderAdd(handle, pointer, keyLength, pointer + keyLength, value.length) !== 0) {
      throw invalidArgument("block keys must be strictly increasing");
    }
  }

  addFromRun(run: Run, from: number, blockBytesTarget: number): number {
    const handle = this.handle;
    const source = asWasmRun(run, this.runtime);
    checkRunArguments(from, source.count, blockBytesTarget);
    const next = this.exports.blockBuilderAddFromRun(handle, source.handle, from, blockBytesTarget);
    if (next < 0) throw invalidArgument(`run entry ${this.exports.blockUnsortedIndex() >>> 0} is not greater than the key before it`);
    return next;
  }

  finish(): Uint8Array {
    const handle = this.handle;
    const length = this.exports.blockBuilderFinish(handle) >>> 0;
    return this.runtime.copyOut(this.exports.blockBuilderPointer(handle) >>> 0, length);
  }

  free(): void {
    if (this.handleOrZero !== 0) this.exports.blockBuilderFree(this.handleOrZero);
    this.handleOrZero = 0;
  }
}

export class WasmBlockReader implements BlockReader {
  private handleOrZero: number;
  private readonly entryCount: number;

  constructor(readonly runtime: WasmRuntime, readonly exports: BlockExports, handle: number, entryCount: number) {
    this.handleOrZero = handle;
    this.entryCount = entryCount;
  }

  /** The reader's handle for exports; throws once freed. */
  get handle(): number {
    if (this.handleOrZero === 0) throw invalidArgument("block reader used after free()");
    this.runtime.checkUsable();
    return this.handleOrZero;
  }

  get count(): number {
    this.handle;
    return this.entryCount;
  }

  get valid(): boolean {
    return this.runtime.view.getUint32(this.handle + POSITION_VALID, true) !== 0;
  }

  seek(internalKey: Uint8Array): boolean {
    const handle = this.handle;
    if (internalKey.length < TRAILER_BYTES) throw invalidArgument(`internal key of ${internalKey.length} bytes is shorter than its trailer`);
    const pointer = this.runtime.stage(internalKey);
    return this.exports.blockSeek(handle, pointer, internalKey.length) !== 0;
  }

  first(): boolean {
    return this.exports.blockFirst(this.handle) !== 0;
  }

  last(): boolean {
    return this.exports.blockLast(this.handle) !== 0;
  }

  next(): boolean {
    return this.exports.blockNext(this.handle) !== 0;
  }

  prev(): boolean {
    return this.exports.blockPrev(this.handle) !== 0;
  }

  key(): Uint8Array {
    const handle = this.currentHandle();
    const view = this.runtime.view;
    return this.runtime.copyOut(view.getUint32(handle + POSITION_KEY_POINTER, true), view.getUint32(handle + POSITION_KEY_LENGTH, true));
  }

  value(): Uint8Array {
    const handle = this.currentHandle();
    const view = this.runtime.view;
    return this.runtime.copyOut(view.getUint32(handle + POSITION_VALUE_POINTER, true), view.getUint32(handle + POSITION_VALUE_LENGTH, true));
  }

  get(seekKey: Uint8Array): Hit | undefined {
    const handle = this.handle;
    if (seekKey.length < TRAILER_BYTES) throw invalidArgument(`internal key of ${seekKey.length} bytes is shorter than its trailer`);
    const kind = this.exports.blockGet(handle, this.runtime.stage(seekKey), seekKey.length);
    if (kind < 0) return undefined;
    const view = this.runtime.view;
    const trailerAt = view.getUint32(handle + POSITION_KEY_POINTER, true) + seekKey.length - TRAILER_BYTES;
    return {
      kind,
      sequence: view.getUint32(trailerAt + 4, true) * TWO_POW_24 + (view.getUint32(trailerAt, true) >>> 8),
      value: this.runtime.copyValueOut(view.getUint32(handle + POSITION_VALUE_POINTER, true), view.getUint32(handle + POSITION_VALUE_LENGTH, true)),
    };
  }

  cursor(reverse: boolean): Cursor {
    return new WasmBlockCursor(this, reverse);
  }

  free(): void {
    if (this.handleOrZero !== 0) this.exports.blockReaderFree(this.handleOrZero);
    this.handleOrZero = 0;
  }

  private currentHandle(): number {
    const handle = this.handle;
    if (this.runtime.view.getUint32(handle + POSITION_VALID, true) === 0) throw invalidArgument("block reader is not positioned on an entry");
    return handle;
  }
}

class WasmBlockCursor implements Cursor {
  private handleOrZero: number;
  private readonly reverse: number;

  constructor(private readonly reader: WasmBlockReader, reverse: boolean) {
    this.reverse = reverse ? 1 : 0;
    this.handleOrZero = reader.exports.blockCursorNew(reader.handle, this.reverse);
  }

  fill(run: Run, bytesTarget = FILL_BYTES_DEFAULT): number {
    if (this.handleOrZero === 0) throw invalidArgument("block cursor used after free()");
    // The cursor reads the reader's block copy: the reader must still be alive.
    this.reader.handle;
    const target = asWasmRun(run, this.reader.runtime);
    checkRunArguments(0, 0, bytesTarget);
    return this.reader.exports.blockCursorFill(this.handleOrZero, target.handle, this.reverse, bytesTarget) >>> 0;
  }

  free(): void {
    if (this.handleOrZero !== 0) this.reader.exports.blockCursorFree(this.handleOrZero);
    this.handleOrZero = 0;
  }
}

export function wasmBlock(runtime: WasmRuntime) {
  const exports = runtime.exports as unknown as BlockExports;
  if (exports.blockPositionLayout() >>> 0 !== POSITION_LAYOUT) throw new Error("assembly/block.ts Position layout differs from ts/core/wasm/block.ts");
  return {
    newBlockBuilder(restartInterval = BLOCK_RESTART_INTERVAL): BlockBuilder {
      checkRestartInterval(restartInterval);
      runtime.checkUsable();
      return new WasmBlockBuilder(runtime, exports, restartInterval);
    },
    openBlock(block: Uint8Array): BlockReader {
      runtime.checkUsable();
      // Copied once into memory the module takes over: freed by it on corruption, else by free().
      const pointer = exports.memoryAllocate(Math.max(block.length, 1)) >>> 0;
      runtime.u8.set(block, pointer);
      return openBlockInMemory(runtime, pointer, block.length);
    },
  };
}


/**
 * Opens the block at [pointer, pointer + length) of module memory from memoryAllocate, which
 * the module takes over: freed by it on corruption, else by the reader's free().
 */
export function openBlockInMemory(runtime: WasmRuntime, pointer: number, length: number): BlockReader {
  const exports = runtime.exports as unknown as BlockExports;
  const handle = exports.blockOpen(pointer, length) >>> 0;
  if (handle < OPEN_ERROR_LIMIT) {
    throw blockCorruptionError(handle, length, exports.blockCorruptionOffset() >>> 0, exports.blockCorruptionExpected() >>> 0, exports.blockCorruptionActual() >>> 0);
  }
  // The entry count sits in the trailer, validated by blockOpen.
  return new WasmBlockReader(runtime, exports, handle, runtime.view.getUint32(pointer + length - 8, true));
}
