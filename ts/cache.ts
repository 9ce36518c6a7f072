/**
 * A byte-bounded cache of core objects (decoded data blocks), shared by all tables. Each table
 * owns a slot array indexed by block number, so a lookup is an array load, not a hash of a
 * (table, block) key. Eviction is CLOCK (second chance): a hit only sets a flag, where an LRU
 * list would relink two neighbours, each a likely cache miss on a random read. Eviction frees
 * the object's core memory, so a cached object must only be used within one synchronous call.
 */
import type { Freeable } from "./core/types.ts";

interface Node<T> {
  owner: CacheSlots<T>;
  index: number;
  value: T;
  bytes: number;
  /** Read since the clock hand last passed: spared once. */
  referenced: boolean;
  /** Where the node sits in the ring. */
  position: number;
}

/** One owner's (a table's) entries: slot i holds block i, if cached. */
export class CacheSlots<T> {
  readonly slots: (Node<T> | undefined)[] = [];
}

export class BlockCache<T extends Freeable> {
  private readonly ring: Node<T>[] = [];
  private hand = 0;
  private bytesUsed = 0;
  hits = 0;
  misses = 0;

  constructor(readonly bytesMax: number) {}

  get(owner: CacheSlots<T>, index: number): T | undefined {
    const node = owner.slots[index];
    if (!node) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    node.referenced = true;
    return node.value;
  }

  /** Caches `value` (replacing the slot's object); evicts others, never `value` itself. */
  set(owner: CacheSlots<T>, index: number, value: T, bytes: number): void {
    const existing = owner.slots[index];
    if (existing) this.remove(existing);
    const node: Node<T> = { owner, index, value, bytes, referenced: false, position: this.ring.length };
    owner.slots[index] = node;
    this.ring.push(node);
    this.bytesUsed += bytes;
    this.evictDownTo(this.bytesMax, node);
  }

  /** Sweeps the clock hand until the bytes fit, sparing `keep` and, once, referenced nodes. */
  private evictDownTo(bytesMax: number, keep: Node<T>): void {
    const ring = this.ring;
    while (this.bytesUsed > bytesMax && ring.length > 1) {
      if (this.hand >= ring.length) this.hand = 0;
      const node = ring[this.hand]!;
      if (node === keep || node.referenced) {
        node.referenced = false;
        this.hand++;
      } else {
        // remove() moves the ring's last node here: the hand looks at it next.
        this.remove(node);
      }
    }
  }

  private remove(node: Node<T>): void {
    const ring = this.ring;
    const last = ring.pop()!;
    if (last !== node) {
      ring[node.position] = last;
      last.position = node.position;
    }
    node.owner.slots[node.index] = undefined;
    this.bytesUsed -= node.bytes;
    node.value.free();
  }

  /** Drops every entry of one owner (a table being closed). */
  dropOwner(owner: CacheSlots<T>): void {
    for (const node of owner.slots) if (node) this.remove(node);
  }

  get bytes(): number {
    return this.bytesUsed;
  }

  clear(): void {
    while (this.ring.length > 0) this.remove(this.ring[this.ring.length - 1]!);
  }
}
