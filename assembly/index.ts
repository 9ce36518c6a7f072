// The WebAssembly core's exports: one line per module. Only ts/core/wasm.ts loads this.
export * from "./memory";
export * from "./format";
export { runNew, runFree, runClear, runPointer, runByteLength, runCount, runAppendEncoded } from "./run";
export * from "./crc32c";
export * from "./bloom";
// block.ts also exports its reader classes to lookup.ts: only its functions are listed here.
export {
  blockCorruptionExpected, blockCorruptionActual, blockCorruptionOffset, blockUnsortedIndex, blockBuilderNew, blockBuilderFree,
  blockBuilderCount, blockBuilderSizeEstimate, blockBuilderLastKeyPointer, blockBuilderLastKeyLength, blockBuilderPointer,
  blockBuilderAdd, blockBuilderAddFromRun, blockBuilderFinish, blockPositionLayout, blockOpen, blockReaderFree, blockFirst,
  blockLast, blockNext, blockPrev, blockSeek, blockGet, blockCursorNew, blockCursorFree, blockCursorFill,
} from "./block";
export * from "./skiplist";
export * from "./merge";
export * from "./lz4";
// lookup.ts also exports its classes and hit record to lookup-batch.ts: only its functions are listed here.
export {
  lookupHitPointer, pointKeyNew, pointKeyFree, pointKeyLayout, tableLookupNew, tableLookupFree, tableLookupBlockCount,
  tableLookupSetBlock, tableLookupGet,
} from "./lookup";
export * from "./lookup-batch";
