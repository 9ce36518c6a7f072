/** The block cache (ts/lsm/cache.ts): a byte bound, CLOCK eviction, and every object freed exactly once. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { BlockCache, CacheSlots } from "../ts/lsm/cache.ts";

class Item {
  frees = 0;
  constructor(readonly name: string) {}
  free(): void {
    this.frees++;
  }
}

test("a read entry survives the next eviction; an unread one goes first", () => {
  const cache = new BlockCache<Item>(300);
  const slots = new CacheSlots<Item>(10);
  const [a, b, c, d] = ["a", "b", "c", "d"].map((name) => new Item(name));
  cache.set(slots, 0, a!, 100);
  cache.set(slots, 1, b!, 100);
  cache.set(slots, 2, c!, 100);
  assert.is(cache.get(slots, 0), a); // a is spared once
  cache.set(slots, 3, d!, 100);
  assert.is(cache.get(slots, 0), a);
  assert.is(cache.get(slots, 1), undefined);
  assert.is(b!.frees, 1);
  assert.is(cache.bytes, 300);
  assert.equal([cache.hits, cache.misses], [2, 1]);
});

test("an entry larger than the whole cache is kept until the next one, and never freed early", () => {
  const cache = new BlockCache<Item>(50);
  const slots = new CacheSlots<Item>(10);
  const big = new Item("big");
  cache.set(slots, 0, big, 400);
  assert.is(cache.get(slots, 0), big);
  assert.is(big.frees, 0);
  const next = new Item("next");
  cache.set(slots, 1, next, 400);
  assert.is(big.frees, 1);
  assert.is(next.frees, 0);
  assert.is(cache.bytes, 400);
});

test("property: against a model, bytes stay bounded, hits return what was set, frees happen once", () => {
  const operation = fc.oneof(
    fc.record({ type: fc.constant("set" as const), owner: fc.nat({ max: 2 }), index: fc.nat({ max: 9 }), bytes: fc.integer({ min: 1, max: 120 }) }),
    fc.record({ type: fc.constant("get" as const), owner: fc.nat({ max: 2 }), index: fc.nat({ max: 9 }) }),
    fc.record({ type: fc.constant("drop" as const), owner: fc.nat({ max: 2 }) }),
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 400 }), fc.array(operation, { maxLength: 200 }), (bytesMax, operations) => {
      const cache = new BlockCache<Item>(bytesMax);
      const owners = [0, 1, 2].map(() => new CacheSlots<Item>(10));
      const cached = new Map<string, { item: Item; bytes: number }>(); // what the model says is in
      const all: Item[] = [];
      const sync = () => {
        // The cache may evict: whatever it still holds must be what the model set, and unfreed.
        for (const [name, entry] of [...cached]) {
          const [owner, index] = name.split("/").map(Number) as [number, number];
          const slot = owners[owner]!.values[index];
          if (slot === undefined) {
            assert.is(entry.item.frees, 1, `${name} evicted and freed once`);
            cached.delete(name);
          } else {
            assert.is(slot, entry.item);
            assert.is(entry.item.frees, 0);
          }
        }
        const bytes = [...cached.values()].reduce((sum, entry) => sum + entry.bytes, 0);
        assert.is(cache.bytes, bytes);
        assert.ok(bytes <= bytesMax || cached.size === 1, `${bytes} bytes over ${bytesMax} in ${cached.size} entries`);
      };
      for (const op of operations) {
        if (op.type === "set") {
          const name = `${op.owner}/${op.index}`;
          const item = new Item(name);
          all.push(item);
          const replaced = cached.get(name);
          cache.set(owners[op.owner]!, op.index, item, op.bytes);
          if (replaced) assert.is(replaced.item.frees, 1);
          cached.set(name, { item, bytes: op.bytes });
          assert.is(cache.get(owners[op.owner]!, op.index), item, "the entry just set is in");
        } else if (op.type === "get") {
          const entry = cached.get(`${op.owner}/${op.index}`);
          const got = cache.get(owners[op.owner]!, op.index);
          if (got !== undefined) assert.is(got, entry?.item);
        } else {
          cache.dropOwner(owners[op.owner]!);
          for (const name of [...cached.keys()]) {
            if (name.startsWith(`${op.owner}/`)) {
              assert.is(cached.get(name)!.item.frees, 1);
              cached.delete(name);
            }
          }
        }
        sync();
      }
      cache.clear();
      assert.is(cache.bytes, 0);
      for (const item of all) assert.is(item.frees, 1, `${item.name} freed exactly once`);
    }),
    { numRuns: 300 },
  );
});

test.run();
