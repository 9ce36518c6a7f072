/**
 * A byte-bounded LRU cache of core objects (decoded data blocks), shared by all tables. Each
 * table owns a slot array indexed by block number, so a lookup is an array load, not a hash of
 * a (table, block) key; recency is a doubly-linked list. Eviction frees the object's core
 * memory, so a cached object must only be used within one synchronous call.
 */
import type { Freeable } from "./core/types.ts";

interface Node<T> {
  owner: CacheSlots<T>;
  index: number;
  value: T;
  bytes: number;
  newer: Node<T> | undefined;
  older: Node<T> | undefined;
}

/** One owner's (a table's) entries: slot i holds block i, if cached. */
export class CacheSlots<T> {
  readonly slots: (Node<T> | undefined)[] = [];
}

export class BlockCache<T extends Freeable> {
  private newest: Node<T> | undefined;
  private oldest: Node<T> | undefined;
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
    if (node !== this.newest) {
      this.unlink(node);
      this.linkNewest(node);
    }
    return node.value;
  }

  set(owner: CacheSlots<T>, index: number, value: T, bytes: number): void {
    const existing = owner.slots[index];
    if (existing) this.remove(existing);
    const node: Node<T> = { owner, index, value, bytes, newer: undefined, older: undefined };
    owner.slots[index] = node;
    this.linkNewest(node);
    this.bytesUsed += bytes;
    while (this.bytesUsed > this.bytesMax && this.oldest && this.oldest !== node) this.remove(this.oldest);
  }

  private linkNewest(node: Node<T>): void {
    node.older = this.newest;
    node.newer = undefined;
    if (this.newest) this.newest.newer = node;
    this.newest = node;
    this.oldest ??= node;
  }

  private unlink(node: Node<T>): void {
    if (node.newer) node.newer.older = node.older;
    else this.newest = node.older;
    if (node.older) node.older.newer = node.newer;
    else this.oldest = node.newer;
  }

  private remove(node: Node<T>): void {
    this.unlink(node);
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
    while (this.oldest) this.remove(this.oldest);
  }
}
