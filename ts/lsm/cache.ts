/**
 * A byte-bounded cache of core objects (decoded data blocks), shared by all tables. Each table
 * owns the slots of its blocks, indexed by block number, so a lookup is an array load, not a
 * hash of a (table, block) key. Eviction is CLOCK (second chance): a hit only sets a flag, where
 * an LRU list would relink two neighbours, each a likely cache miss on a random read. The
 * bookkeeping lives in arrays, not an object per entry: fewer loads per read, and nothing for
 * the garbage collector to trace as the cache fills. Eviction frees the object's core memory,
 * so a cached object must only be used within one synchronous call.
 */
import { assert } from "../assert.ts";
import type { Freeable } from "../core/types.ts";

/** One owner's (a table's) entries: slot i holds block i, if cached. */
export class CacheSlots<T> {
  readonly values: (T | undefined)[];
  readonly bytes: Float64Array;
  /** Read since the clock hand last passed: spared once. */
  readonly referenced: Uint8Array;
  /** Where each cached entry sits in the ring. */
  readonly positions: Int32Array;

  /** `released` hears of each entry the cache lets go of, before its object is freed. */
  constructor(
    readonly count: number,
    readonly released?: (index: number) => void,
  ) {
    this.values = new Array<T | undefined>(count).fill(undefined);
    this.bytes = new Float64Array(count);
    this.referenced = new Uint8Array(count);
    this.positions = new Int32Array(count);
  }
}

export class BlockCache<T extends Freeable> {
  /** The clock's ring: entry i is block ringIndexes[i] of ringOwners[i]. */
  private readonly ringOwners: CacheSlots<T>[] = [];
  private readonly ringIndexes: number[] = [];
  private hand = 0;
  private bytesUsed = 0;
  hits = 0;
  misses = 0;

  constructor(readonly bytesMax: number) {}

  get(owner: CacheSlots<T>, index: number): T | undefined {
    const value = owner.values[index];
    if (value === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    owner.referenced[index] = 1;
    return value;
  }

  /** The cached entry, if any, without counting or marking it (a scan passing by). */
  peek(owner: CacheSlots<T>, index: number): T | undefined {
    return owner.values[index];
  }

  /** Counts a hit on an entry a lookup found cached without get() (a table lookup in the core). */
  touch(owner: CacheSlots<T>, index: number): void {
    this.hits++;
    owner.referenced[index] = 1;
  }

  /** Caches `value` (replacing the slot's object); evicts others, never `value` itself. */
  set(owner: CacheSlots<T>, index: number, value: T, bytes: number): void {
    assert(index >= 0 && index < owner.count, "cache slot outside its owner");
    if (owner.values[index] !== undefined) this.remove(owner, index);
    owner.values[index] = value;
    owner.bytes[index] = bytes;
    owner.referenced[index] = 0;
    owner.positions[index] = this.ringOwners.length;
    this.ringOwners.push(owner);
    this.ringIndexes.push(index);
    this.bytesUsed += bytes;
    this.evictDownTo(this.bytesMax, owner, index);
  }

  /** Sweeps the clock hand until the bytes fit, sparing (keepOwner, keepIndex) and, once, referenced entries. */
  private evictDownTo(bytesMax: number, keepOwner: CacheSlots<T>, keepIndex: number): void {
    const owners = this.ringOwners;
    const indexes = this.ringIndexes;
    while (this.bytesUsed > bytesMax && owners.length > 1) {
      if (this.hand >= owners.length) this.hand = 0;
      const owner = owners[this.hand]!;
      const index = indexes[this.hand]!;
      if ((owner === keepOwner && index === keepIndex) || owner.referenced[index] !== 0) {
        owner.referenced[index] = 0;
        this.hand++;
      } else {
        // remove() moves the ring's last entry here: the hand looks at it next.
        this.remove(owner, index);
      }
    }
  }

  private remove(owner: CacheSlots<T>, index: number): void {
    const owners = this.ringOwners;
    const indexes = this.ringIndexes;
    const position = owner.positions[index]!;
    const lastOwner = owners.pop()!;
    const lastIndex = indexes.pop()!;
    if (position < owners.length) {
      owners[position] = lastOwner;
      indexes[position] = lastIndex;
      lastOwner.positions[lastIndex] = position;
    }
    const value = owner.values[index]!;
    owner.values[index] = undefined;
    this.bytesUsed -= owner.bytes[index]!;
    owner.released?.(index);
    value.free();
  }

  /** Drops every entry of one owner (a table being closed). */
  dropOwner(owner: CacheSlots<T>): void {
    for (let index = 0; index < owner.count; index++) if (owner.values[index] !== undefined) this.remove(owner, index);
  }

  get bytes(): number {
    return this.bytesUsed;
  }

  clear(): void {
    while (this.ringOwners.length > 0) this.remove(this.ringOwners[this.ringOwners.length - 1]!, this.ringIndexes[this.ringIndexes.length - 1]!);
  }
}
