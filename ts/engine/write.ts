/**
 * The write path: a validated batch is appended to the value log (as durably as asked), then
 * inserted into the memtable as one run (inline values, value pointers or tombstones), at
 * consecutive sequences. The conflict journal hears of it, then the pacer takes the background
 * work the write pays for (ts/engine/pacing.ts).
 */
import { writeTrailer } from "../core/entry.ts";
import { KIND_DELETE, KIND_POINTER, KIND_VALUE, SEQUENCE_MAX, TRAILER_BYTES } from "../core/types.ts";
import { PgzError } from "../errors.ts";
import type { Durability } from "../vlog/log.ts";
import { NO_VALUE, encodeValuePointer, type LogOperation } from "../vlog/record.ts";
import type { Pacer } from "./pacing.ts";
import type { EngineState } from "./state.ts";

export class WritePath {
  constructor(
    private readonly state: EngineState,
    private readonly pacer: Pacer,
  ) {}

  /** Appends a validated batch to the log, then to the memtable; rotates and flushes when full. */
  write(operations: LogOperation[], durability: Durability): void {
    if (operations.length === 0) return;
    this.state.checkWritable();
    this.state.guard(() => this.writeBatch(operations, durability));
    for (const operation of operations) this.state.userBytesWritten += operation.key.length + operation.value.length;
  }

  /** The write itself; GC's copies come straight here, so write amplification counts them as disk only. */
  writeBatch(operations: LogOperation[], durability: Durability): void {
    const state = this.state;
    if (state.lastSequence + operations.length > SEQUENCE_MAX) throw new PgzError("PGZ_INVALID_ARGUMENT", "sequence numbers exhausted");
    const first = state.lastSequence + 1;
    const appended = state.log.append(operations, first, durability);
    // Made only for a batch with a value in the log: most batches of small values have none.
    let pointers: (Uint8Array | undefined)[] | undefined;
    for (let i = 0; i < operations.length; i++) {
      const operation = operations[i]!;
      if (operation.type !== "put" || operation.value.length <= state.settings.valueThreshold) continue;
      state.accounting.notePointer(appended.segment, appended.lengths[i]!);
      (pointers ??= new Array(operations.length))[i] = encodeValuePointer({ segment: appended.segment, offset: appended.offsets[i]!, length: appended.lengths[i]! });
    }
    const run = encodeMemtableRun(operations, first, pointers);
    state.tree.memtable.memtable.insert(run);
    state.lastSequence = first + operations.length - 1;
    state.conflicts.record(operations, first);
    state.changes.committed();
    state.runBackgroundWork(() => this.pacer.afterWrite(run.length));
  }
}

/**
 * Encodes a batch as a memtable run (the encoding of encodeRun in ts/core/entry.ts): inline
 * values, value pointers, or tombstones. Into one buffer reused by every call, valid until the
 * next: the memtable copies a run in at insert. A fresh 130 KB buffer per batch of 1,000 puts
 * (and an entry object per operation) was garbage the collector paid for on the caller's thread.
 */
export function encodeMemtableRun(operations: readonly LogOperation[], firstSequence: number, pointers: readonly (Uint8Array | undefined)[] | undefined): Uint8Array {
  let total = 0;
  for (let i = 0; i < operations.length; i++) total += 8 + operations[i]!.key.length + TRAILER_BYTES + runValue(operations[i]!, pointers?.[i]).length;
  if (runScratch.length < total) runScratch = new Uint8Array(Math.max(total, 2 * runScratch.length));
  const bytes = runScratch;
  let offset = 0;
  for (let i = 0; i < operations.length; i++) {
    const { key, type } = operations[i]!;
    const pointer = pointers?.[i];
    const value = runValue(operations[i]!, pointer);
    writeLength(bytes, offset, key.length + TRAILER_BYTES);
    writeLength(bytes, offset + 4, value.length);
    bytes.set(key, offset + 8);
    writeTrailer(bytes, offset + 8 + key.length, firstSequence + i, type === "del" ? KIND_DELETE : pointer ? KIND_POINTER : KIND_VALUE);
    bytes.set(value, offset + 8 + key.length + TRAILER_BYTES);
    offset += 8 + key.length + TRAILER_BYTES + value.length;
  }
  return bytes.subarray(0, total);
}

function runValue(operation: LogOperation, pointer: Uint8Array | undefined): Uint8Array {
  return operation.type === "del" ? NO_VALUE : (pointer ?? operation.value);
}

/** A u32, little-endian (a run entry's key and value lengths). */
function writeLength(target: Uint8Array, at: number, value: number): void {
  target[at] = value & 0xff;
  target[at + 1] = (value >>> 8) & 0xff;
  target[at + 2] = (value >>> 16) & 0xff;
  target[at + 3] = value >>> 24;
}

let runScratch = new Uint8Array(64 * 1024);
