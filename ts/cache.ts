/**
 * A byte-bounded LRU cache of core objects (decoded data blocks). Eviction frees the object's
 * core memory, so a cached object must only be used within one synchronous call.
 */
import type { Freeable } from "./core/types.ts";

export class BlockCache<T extends Freeable> {
  private readonly entries = new Map<number, { value: T; bytes: number }>();
  private bytesUsed = 0;
  hits = 0;
  misses = 0;

  constructor(readonly bytesMax: number) {}

  get(key: number): T | undefined {
    const entry = this.entries.get(key);
    if (!entry) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    // Re-insert to mark it most recently used (a Map iterates in insertion order).
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: number, value: T, bytes: number): void {
    const existing = this.entries.get(key);
    if (existing) this.remove(key, existing);
    this.entries.set(key, { value, bytes });
    this.bytesUsed += bytes;
    for (const [oldestKey, oldest] of this.entries) {
      if (this.bytesUsed <= this.bytesMax || oldestKey === key) break;
      this.remove(oldestKey, oldest);
    }
  }

  private remove(key: number, entry: { value: T; bytes: number }): void {
    this.entries.delete(key);
    this.bytesUsed -= entry.bytes;
    entry.value.free();
  }

  /** Drops every entry whose key satisfies `matches` (a deleted table's blocks). */
  dropWhere(matches: (key: number) => boolean): void {
    for (const [key, entry] of this.entries) if (matches(key)) this.remove(key, entry);
  }

  get bytes(): number {
    return this.bytesUsed;
  }

  clear(): void {
    for (const [key, entry] of this.entries) this.remove(key, entry);
  }
}
