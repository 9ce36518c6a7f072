/**
 * A batch of point keys for TableLookup.getMany, the twin of assembly/lookup-batch.ts: each slot
 * holds its internal key and bloom hash (computed by the first table that needs it), its state
 * and what was found for it; each call lists the slots it found and those needing a block.
 */
import { invalidArgument } from "../../errors.ts";
import { checkSequence, writeTrailer } from "../entry.ts";
import { KEY_LENGTH, KEY_OFFSET, LINKS, LINK_SLOTS } from "./skiplist-cursor.ts";
import { compareToTarget, hitOfNode, readTrailerHigh, readTrailerLow, type SkiplistNodes } from "./skiplist-keys.ts";
import { KIND_DELETE, KIND_POINTER, KIND_SEEK, LOOKUP_BLOCK_SHIFT, TRAILER_BYTES, type Hit, type PointBatch, type PointResults } from "../types.ts";

/** An internal key as a table lookup reads it, with its bloom hash once computed. */
export class LookupKey {
  bytes = new Uint8Array(TRAILER_BYTES);
  hash = 0;
  hashed = false;

  /** Writes `userKey` with a trailer at `sequence` (KIND_SEEK) and forgets the hash. */
  write(userKey: Uint8Array, sequence: number): void {
    if (this.bytes.length !== userKey.length + TRAILER_BYTES) this.bytes = new Uint8Array(userKey.length + TRAILER_BYTES);
    this.bytes.set(userKey);
    writeTrailer(this.bytes, userKey.length, sequence, KIND_SEEK);
    this.hashed = false;
  }
}

export const BATCH_PENDING = 0;
export const BATCH_NEEDED = 1;
export const BATCH_FOUND = 2;

export class PurePointBatch implements PointBatch {
  count = 0;
  readonly keys: LookupKey[] = [];
  states = new Uint8Array(0);
  /** Each slot's last TableLookup result code. */
  results = new Int32Array(0);
  readonly hits: (Hit | undefined)[] = [];
  readonly found: number[] = [];
  readonly needed: number[] = [];
  freed = false;

  set(keys: readonly Uint8Array[], order: readonly number[], count: number, sequence: number): void {
    this.checkLive();
    checkSequence(sequence);
    if (!Number.isInteger(count) || count < 0 || count > order.length) throw invalidArgument(`a batch of ${count} keys from an order of ${order.length}`);
    if (this.states.length < count) {
      this.states = new Uint8Array(count);
      this.results = new Int32Array(count);
    }
    while (this.keys.length < count) this.keys.push(new LookupKey());
    for (let i = 0; i < count; i++) {
      const key = keys[order[i]!];
      if (!(key instanceof Uint8Array)) throw invalidArgument("a point batch's keys must be Uint8Arrays");
      this.keys[i]!.write(key, sequence);
    }
    this.states.fill(BATCH_PENDING, 0, count);
    this.hits.length = 0;
    this.found.length = 0;
    this.needed.length = 0;
    this.count = count;
  }

  get foundCount(): number {
    this.checkLive();
    return this.found.length;
  }

  foundSlot(i: number): number {
    if (!(i >= 0 && i < this.foundCount)) throw invalidArgument(`found slot ${i} of ${this.found.length}`);
    return this.found[i]!;
  }

  get neededCount(): number {
    this.checkLive();
    return this.needed.length;
  }

  neededBlock(i: number): number {
    if (!(i >= 0 && i < this.neededCount)) throw invalidArgument(`needed slot ${i} of ${this.needed.length}`);
    return -2 - this.results[this.needed[i]!]!;
  }

  hit(slot: number): Hit {
    this.checkSlot(slot);
    const hit = this.hits[slot];
    if (hit === undefined || this.states[slot] !== BATCH_FOUND) throw invalidArgument(`slot ${slot} has found nothing`);
    return hit;
  }

  copyFound(order: readonly number[], results: PointResults): void {
    this.checkLive();
    for (const slot of this.found) {
      const hit = this.hits[slot]!;
      const index = order[slot]!;
      if (hit.kind === KIND_DELETE) continue;
      results.values[index] = hit.value;
      if (hit.kind !== KIND_POINTER) continue;
      results.pointerKeys.push(index);
      results.pointerSequences.push(hit.sequence);
    }
  }

  hitBlock(slot: number): number {
    this.checkSlot(slot);
    return this.results[slot]! >>> LOOKUP_BLOCK_SHIFT;
  }

  private checkSlot(slot: number): void {
    this.checkLive();
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.count) throw invalidArgument(`slot ${slot} is not one of the batch's ${this.count}`);
  }

  private checkLive(): void {
    if (this.freed) throw invalidArgument("point batch used after free()");
  }

  free(): void {
    this.freed = true;
    this.count = 0;
  }
}

/** Searches of a memtable interleaved at once, as in assembly/lookup-batch.ts: per lane its slot (-1: idle), node, level, node known not less, key prefix halves and trailer halves. */
const MEMTABLE_LANES = 8;
const searchSlots = new Int32Array(MEMTABLE_LANES);
const searchNodes = new Int32Array(MEMTABLE_LANES);
const searchLevels = new Int32Array(MEMTABLE_LANES);
const searchKnown = new Int32Array(MEMTABLE_LANES);
const searchPrefixes = new Uint32Array(MEMTABLE_LANES * 2);
const searchTrailers = new Uint32Array(MEMTABLE_LANES * 2);

/**
 * Memtable.getMany on the pure core, the twin of assembly/lookup-batch.ts's memtableGetMany:
 * MEMTABLE_LANES searches in step, each lane one step down or along the list before the next
 * lane's, so their cache misses overlap. A slot found becomes BATCH_FOUND and is listed in found.
 */
export function memtableGetMany(memtable: SkiplistNodes, batch: PointBatch, from: number, to: number): void {
  if (!(batch instanceof PurePointBatch) || batch.freed) throw invalidArgument("a memtable takes a live point batch of its own core");
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || from > to || to > batch.count) throw invalidArgument(`slots [${from}, ${to}) of a batch of ${batch.count}`);
  batch.found.length = 0;
  batch.needed.length = 0;
  const { nodes, prefixes, arena } = memtable;
  let next = from;
  let active = 0;
  for (let lane = 0; lane < MEMTABLE_LANES; lane++) {
    next = startSearch(memtable, batch, lane, next, to);
    if (searchSlots[lane]! >= 0) active++;
  }
  while (active > 0) {
    for (let lane = 0; lane < MEMTABLE_LANES; lane++) {
      const slot = searchSlots[lane]!;
      if (slot < 0) continue;
      const key = batch.keys[slot]!.bytes;
      const userLength = key.length - TRAILER_BYTES;
      const level = searchLevels[lane]!;
      const link = searchNodes[lane]! + LINKS + level * LINK_SLOTS;
      const nextNode = nodes[link]!;
      let less = false;
      if (nextNode !== 0 && nextNode !== searchKnown[lane]) {
        const high = prefixes[link + 1]!;
        const low = prefixes[link + 2]!;
        if (high !== searchPrefixes[2 * lane]) less = high < searchPrefixes[2 * lane]!;
        else if (low !== searchPrefixes[2 * lane + 1]) less = low < searchPrefixes[2 * lane + 1]!;
        else less = compareToTarget(arena, nodes[nextNode + KEY_OFFSET]!, nodes[nextNode + KEY_LENGTH]!, key, 0, userLength, searchTrailers[2 * lane]!, searchTrailers[2 * lane + 1]!) < 0;
      }
      if (less) {
        searchNodes[lane] = nextNode;
        continue;
      }
      searchKnown[lane] = nextNode;
      if (level > 0) {
        searchLevels[lane] = level - 1;
        continue;
      }
      // nextNode is the first node >= the seek key: the key's newest visible version if it has the user key.
      const hit = nextNode === 0 ? undefined : hitOfNode(memtable, nextNode, key, userLength);
      if (hit !== undefined) {
        batch.states[slot] = BATCH_FOUND;
        batch.hits[slot] = hit;
        batch.found.push(slot);
      }
      next = startSearch(memtable, batch, lane, next, to);
      if (searchSlots[lane]! < 0) active--;
    }
  }
}

/** Starts lane `lane` on the first slot from `next` not found yet (or idles it); returns the slot after. */
function startSearch(memtable: SkiplistNodes, batch: PurePointBatch, lane: number, next: number, to: number): number {
  while (next < to && batch.states[next] === BATCH_FOUND) next++;
  if (next >= to) {
    searchSlots[lane] = -1;
    return next;
  }
  const key = batch.keys[next]!.bytes;
  const userLength = key.length - TRAILER_BYTES;
  searchSlots[lane] = next;
  searchNodes[lane] = 0;
  searchLevels[lane] = memtable.height - 1;
  searchKnown[lane] = 0;
  memtable.linkPrefix(key, 0, userLength);
  searchPrefixes[2 * lane] = memtable.prefixHigh;
  searchPrefixes[2 * lane + 1] = memtable.prefixLow;
  searchTrailers[2 * lane] = readTrailerHigh(key, userLength);
  searchTrailers[2 * lane + 1] = readTrailerLow(key, userLength);
  return next + 1;
}
