// The WebAssembly core's exports: one line per module. Only ts/core/wasm.ts loads this.
export * from "./memory";
export * from "./format";
export { runNew, runFree, runClear, runPointer, runByteLength, runCount, runAppendEncoded } from "./run";
export * from "./crc32c";
export * from "./bloom";
// block.ts also exports its reader classes to lookup.ts and block-cursor.ts: only its functions are listed here.
export * from "./block-builder";
export {
  blockCorruptionExpected, blockCorruptionActual, blockCorruptionOffset, blockPositionLayout, blockOpen, blockReaderFree,
  blockFirst, blockLast, blockNext, blockPrev, blockSeek, blockGet,
} from "./block";
export * from "./block-cursor";
// skiplist.ts also exports its internals to skiplist-insert.ts: only its functions for the host are listed here.
export { memtableNew, memtableFree, memtableCount, memtableArenaBytes, memtableGet, memtableCursorNew, memtableCursorFree, memtableCursorFill } from "./skiplist";
export * from "./skiplist-insert";
export * from "./merge";
export * from "./lz4";
// lookup.ts also exports its classes and hit record to lookup-batch.ts: only its functions are listed here.
export {
  lookupHitPointer, pointKeyNew, pointKeyFree, pointKeyLayout, tableLookupNew, tableLookupFree, tableLookupBlockCount,
  tableLookupSetBlock, tableLookupGet,
} from "./lookup";
export * from "./lookup-batch";
