// Cursors over a data block (block.ts): their own position (and key buffer), starting where the
// reader stands.
import { Run, runReserve } from "./run";
import { copyBytes } from "./block-bytes";
import {
  Position, restartAt, readHeader, headerShared, headerUnshared, headerValueLength, positionNew, positionFree, decodeAt, blockFirst, blockNext,
} from "./block";

export function blockCursorNew(reader: Position, reverse: u32): Position {
  const block = reader.block;
  const cursor = positionNew(block);
  if (reverse != 0) {
    const scratchEntries: u32 = block.intervalEntriesMax > 0 ? block.intervalEntriesMax : 1;
    cursor.scratch = heap.alloc(<usize>scratchEntries << 2);
    if (reader.valid != 0) {
      cursor.endOffset = reader.nextOffset;
      cursor.restartIndex = reader.restartIndex;
    } else if (block.entryCount > 0) {
      cursor.endOffset = block.restartsOffset;
      cursor.restartIndex = block.restartCount - 1;
    }
  } else if (reader.valid != 0) {
    memory.copy(cursor.keyPointer, reader.keyPointer, reader.keyLength);
    cursor.keyLength = reader.keyLength;
    cursor.valuePointer = reader.valuePointer;
    cursor.valueLength = reader.valueLength;
    cursor.valid = 1;
    cursor.offset = reader.offset;
    cursor.nextOffset = reader.nextOffset;
    cursor.restartIndex = reader.restartIndex;
  } else {
    blockFirst(cursor);
  }
  return cursor;
}

export function blockCursorFree(cursor: Position): void {
  positionFree(cursor);
}

/** Appends the cursor's entry to `run` (runAppend, with copyBytes for the short key). */
// @ts-ignore: decorator
@inline function appendEntry(run: Run, cursor: Position): void {
  const keyLength = cursor.keyLength;
  const valueLength = cursor.valueLength;
  const size = 8 + keyLength + valueLength;
  const at = runReserve(run, size);
  store<u32>(at, keyLength);
  store<u32>(at, valueLength, 4);
  copyBytes(at + 8, cursor.keyPointer, keyLength);
  copyBytes(at + 8 + keyLength, cursor.valuePointer, valueLength);
  run.byteLength += size;
  run.count++;
}

/** Clears `run` and appends entries until it holds `target` bytes; returns how many. */
export function blockCursorFill(cursor: Position, run: Run, reverse: u32, target: u32): u32 {
  run.byteLength = 0;
  run.count = 0;
  if (reverse != 0) return fillReverse(cursor, run, target);
  let appended: u32 = 0;
  while (cursor.valid != 0) {
    appendEntry(run, cursor);
    appended++;
    blockNext(cursor);
    if (run.byteLength >= target) break;
  }
  return appended;
}

/**
 * Emits entries before endOffset, newest offset first, one restart interval at a time: a pass
 * over the interval's headers sizes the entries, then a forward decode writes each emitted
 * entry into its mirrored slot of the run. Each entry is decoded twice instead of the
 * interval/2 times a prev() per entry would cost.
 */
function fillReverse(cursor: Position, run: Run, target: u32): u32 {
  const block = cursor.block;
  const data = block.data;
  const sizes = cursor.scratch;
  let appended: u32 = 0;
  while (cursor.endOffset > 0 && (appended == 0 || run.byteLength < target)) {
    const start = restartAt(block, cursor.restartIndex);
    const end = cursor.endOffset;
    let count: u32 = 0;
    let at = data + start;
    while (at < data + end) {
      at = readHeader(at);
      assert(count < block.intervalEntriesMax);
      store<u32>(sizes + (count << 2), 8 + headerShared + headerUnshared + headerValueLength);
      count++;
      at += <usize>headerUnshared + headerValueLength;
    }
    // Take entries from the interval's end until the run reaches the target.
    let taken: u32 = 0;
    let total: u32 = 0;
    while (taken < count) {
      total += load<u32>(sizes + ((count - 1 - taken) << 2));
      taken++;
      if (run.byteLength + total >= target) break;
    }
    const firstTaken = count - taken;
    let slot = runReserve(run, total) + total;
    let offset = start;
    let firstTakenOffset = start;
    for (let index: u32 = 0; index < count; index++) {
      decodeAt(cursor, offset);
      if (index >= firstTaken) {
        if (index == firstTaken) firstTakenOffset = offset;
        const keyLength = cursor.keyLength;
        const valueLength = cursor.valueLength;
        slot -= 8 + <usize>keyLength + valueLength;
        store<u32>(slot, keyLength);
        store<u32>(slot, valueLength, 4);
        copyBytes(slot + 8, cursor.keyPointer, keyLength);
        copyBytes(slot + 8 + keyLength, cursor.valuePointer, valueLength);
      }
      offset = cursor.nextOffset;
    }
    run.byteLength += total;
    run.count += taken;
    appended += taken;
    if (taken == count) {
      cursor.endOffset = start;
      if (cursor.restartIndex > 0) cursor.restartIndex--;
    } else {
      cursor.endOffset = firstTakenOffset;
    }
  }
  cursor.valid = 0;
  return appended;
}
