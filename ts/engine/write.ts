/**
 * The write path: a validated batch is appended to the value log (as durably as asked), then
 * inserted into the memtable as one run (inline values, value pointers or tombstones), at
 * consecutive sequences. The conflict journal hears of it, then the pacer takes the background
 * work the write pays for (ts/engine/pacing.ts).
 */
import { encodeRun } from "../core/entry.ts";
import { KIND_DELETE, KIND_POINTER, KIND_VALUE, SEQUENCE_MAX } from "../core/types.ts";
import { PgzError } from "../errors.ts";
import type { Durability } from "../vlog/log.ts";
import { encodeValuePointer, type LogOperation } from "../vlog/record.ts";
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
    const pointers = operations.map((operation, i) => {
      if (operation.type !== "put" || operation.value.length <= state.settings.valueThreshold) return undefined;
      state.accounting.notePointer(appended.segment, appended.lengths[i]!);
      return encodeValuePointer({ segment: appended.segment, offset: appended.offsets[i]!, length: appended.lengths[i]! });
    });
    const run = encodeMemtableRun(operations, first, pointers);
    state.tree.memtable.memtable.insert(run);
    state.lastSequence = first + operations.length - 1;
    state.conflicts.record(operations, first);
    state.changes.committed();
    state.runBackgroundWork(() => this.pacer.afterWrite(run.length));
  }
}

/** Encodes a batch as a memtable run: inline values, value pointers, or tombstones. */
export function encodeMemtableRun(operations: readonly LogOperation[], firstSequence: number, pointers: readonly (Uint8Array | undefined)[]): Uint8Array {
  return encodeRun(
    operations.map((operation, i) => {
      const pointer = pointers[i];
      if (operation.type === "del") return { key: operation.key, value: EMPTY, sequence: firstSequence + i, kind: KIND_DELETE };
      return { key: operation.key, value: pointer ?? operation.value, sequence: firstSequence + i, kind: pointer ? KIND_POINTER : KIND_VALUE };
    }),
  );
}

const EMPTY = new Uint8Array(0);
