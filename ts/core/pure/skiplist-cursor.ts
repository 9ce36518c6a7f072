/**
 * The pure memtable's node records (ts/core/pure/skiplist.ts draws them) and its cursor, which
 * copies entries out of them into runs.
 */
import { invalidArgument } from "../../errors.ts";
import { CURSOR_BYTES_TARGET, checkBytesTarget } from "../checks.ts";
import type { Cursor, Run } from "../types.ts";
import { copyBytes } from "./bytes.ts";
import { asPureRun } from "./run.ts";

/** Int32 slots of a node record: prev, keyOffset, keyLength, valueLength, then its links. */
export const PREV = 0;
export const KEY_OFFSET = 1;
export const KEY_LENGTH = 2;
export const VALUE_LENGTH = 3;
export const LINKS = 4;
/** Int32 slots per level: next, prefix high, prefix low. */
export const LINK_SLOTS = 3;

/** What a cursor reads of its memtable. */
export interface MemtableRecords {
  readonly nodes: Int32Array;
  readonly arena: Uint8Array;
  checkLive(): void;
}

export class PureMemtableCursor implements Cursor {
  private freed = false;

  constructor(
    private readonly memtable: MemtableRecords,
    private readonly reverse: boolean,
    private node: number,
  ) {}

  free(): void {
    this.freed = true;
  }

  fill(run: Run, bytesTarget = CURSOR_BYTES_TARGET): number {
    if (this.freed) throw invalidArgument("cursor used after free()");
    this.memtable.checkLive();
    const out = asPureRun(run);
    checkBytesTarget(bytesTarget);
    out.clear();
    const { nodes, arena } = this.memtable;
    const nextSlot = this.reverse ? PREV : LINKS;
    let node = this.node;
    let count = 0;
    while (node !== 0) {
      const keyLength = nodes[node + KEY_LENGTH]!;
      const valueLength = nodes[node + VALUE_LENGTH]!;
      const at = out.reserve(8 + keyLength + valueLength);
      const view = out.view;
      view.setUint32(at, keyLength, true);
      view.setUint32(at + 4, valueLength, true);
      copyBytes(out.buffer, at + 8, arena, nodes[node + KEY_OFFSET]!, keyLength + valueLength);
      out.byteLength = at + 8 + keyLength + valueLength;
      count++;
      node = nodes[node + nextSlot]!;
      if (out.byteLength >= bytesTarget) break;
    }
    out.count = count;
    this.node = node;
    return count;
  }
}
