/**
 * The engines bench:browser compares, each behind one small async interface and all running in
 * the same dedicated worker on the same data: pgz on OPFS (wasm and ts cores, the synchronous
 * DB), SQLite-WASM on its opfs-sahpool VFS (one WITHOUT ROWID table, one transaction per
 * batch), raw IndexedDB (one transaction per batch) and browser-level (abstract-level over
 * IndexedDB). Reads go a chunk at a time: pgz one db.getMany per chunk, browser-level one getMany,
 * IndexedDB one transaction, SQLite a prepared SELECT per key.
 *
 * Every batch and every durable put is durable when it returns, by each engine's own means:
 * pgz `sync: true` (a flush of the log's sync access handle), SQLite's default
 * synchronous=FULL (xSync flushes the access handles; journal_mode DELETE, exclusive locking),
 * IndexedDB `durability: "strict"`.
 * browser-level cannot ask for durability; it gets IndexedDB's default (relaxed in Chromium).
 */
import sqlite3InitModule from "@sqlite.org/sqlite-wasm";
import { BrowserLevel } from "browser-level";
import { openOpfs } from "../../ts/browser/open.ts";
import type { DB } from "../../ts/index.ts";

export type Entry = [Uint8Array, Uint8Array];

/** A cheap fingerprint of a value read, so every read is checked against what was written. */
export function valueChecksum(value: Uint8Array | undefined): number {
  if (value === undefined || value.length === 0) return 0;
  return value.length + value[0]! * 7 + value[value.length >> 1]! * 131 + value[value.length - 1]! * 8191;
}

export interface Engine {
  readonly name: string;
  open(): Promise<void>;
  /** Writes the entries as one atomic batch, durable on return. */
  batch(entries: readonly Entry[]): Promise<void>;
  /** One put, durable on return. */
  putDurable(key: Uint8Array, value: Uint8Array): Promise<void>;
  /** Reads every key; returns the sum of the values' valueChecksum (0 for a missing one). */
  getAll(keys: readonly Uint8Array[]): Promise<number>;
  /** Reads everything in key order; returns the entry count. */
  scan(): Promise<number>;
  close(): Promise<void>;
}

class PgzEngine implements Engine {
  private db: DB | undefined;

  constructor(
    readonly name: string,
    private readonly core: "wasm" | "ts",
    private readonly directory: string,
  ) {}

  async open(): Promise<void> {
    this.db = await openOpfs(this.directory, { core: this.core });
  }

  async batch(entries: readonly Entry[]): Promise<void> {
    this.db!.batch(
      entries.map(([key, value]) => ({ type: "put" as const, key, value })),
      { sync: true },
    );
  }

  async putDurable(key: Uint8Array, value: Uint8Array): Promise<void> {
    this.db!.put(key, value, { sync: true });
  }

  /** The chunk in one db.getMany (a batch lookup in one walk of the tree), as browser-level reads its chunk with getMany and IndexedDB in one transaction. */
  async getAll(keys: readonly Uint8Array[]): Promise<number> {
    let sum = 0;
    for (const value of this.db!.getMany(keys)) sum += valueChecksum(value);
    return sum;
  }

  async scan(): Promise<number> {
    let count = 0;
    for (const _ of this.db!.iterate()) count++;
    return count;
  }

  async close(): Promise<void> {
    this.db?.close();
  }
}

type Sqlite3 = Awaited<ReturnType<typeof sqlite3InitModule>>;
let sqlite3: Promise<Sqlite3> | undefined;

class SqliteEngine implements Engine {
  readonly name = "SQLite-WASM (opfs-sahpool)";
  private db: any;
  private insert: any;
  private select: any;

  constructor(private readonly directory: string) {}

  async open(): Promise<void> {
    sqlite3 ??= sqlite3InitModule();
    const pool = await (await sqlite3).installOpfsSAHPoolVfs({ name: `pool-${this.directory}`, directory: `/${this.directory}`, clearOnInit: true });
    this.db = new pool.OpfsSAHPoolDb("/bench.sqlite3");
    // One connection owns the file (as opfs-sahpool requires anyway): without exclusive locking
    // every statement re-validates and drops the page cache (365 reads/s instead of 37,300 in a
    // trial on this machine). A 64 MiB page cache, as pgz's 64 MiB memtable.
    this.db.exec("PRAGMA locking_mode = EXCLUSIVE; PRAGMA cache_size = -65536");
    this.db.exec("CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID");
    this.insert = this.db.prepare("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)");
    this.select = this.db.prepare("SELECT v FROM kv WHERE k = ?");
  }

  async batch(entries: readonly Entry[]): Promise<void> {
    this.db.exec("BEGIN");
    for (const [key, value] of entries) this.insert.bind([key, value]).stepReset();
    this.db.exec("COMMIT");
  }

  async putDurable(key: Uint8Array, value: Uint8Array): Promise<void> {
    this.insert.bind([key, value]).stepReset();
  }

  async getAll(keys: readonly Uint8Array[]): Promise<number> {
    let sum = 0;
    for (const key of keys) {
      this.select.bind([key]);
      if (this.select.step()) sum += valueChecksum(this.select.get(0) as Uint8Array);
      this.select.reset();
    }
    return sum;
  }

  async scan(): Promise<number> {
    let count = 0;
    this.db.exec({ sql: "SELECT k, v FROM kv ORDER BY k", callback: () => void count++ });
    return count;
  }

  async close(): Promise<void> {
    this.insert?.finalize();
    this.select?.finalize();
    this.db?.close();
  }
}

function request<T>(target: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    target.onsuccess = () => resolve(target.result);
    target.onerror = () => reject(target.error);
  });
}

function done(transaction: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    transaction.oncomplete = () => resolve();
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () => reject(transaction.error);
  });
}

class IndexedDbEngine implements Engine {
  readonly name = "IndexedDB";
  private db: IDBDatabase | undefined;

  constructor(private readonly databaseName: string) {}

  async open(): Promise<void> {
    await request(indexedDB.deleteDatabase(this.databaseName));
    const opening = indexedDB.open(this.databaseName, 1);
    opening.onupgradeneeded = () => opening.result.createObjectStore("kv");
    this.db = await request(opening);
  }

  private writes(entries: readonly Entry[]): Promise<void> {
    const transaction = this.db!.transaction("kv", "readwrite", { durability: "strict" });
    const store = transaction.objectStore("kv");
    for (const [key, value] of entries) store.put(value, key);
    return done(transaction);
  }

  batch(entries: readonly Entry[]): Promise<void> {
    return this.writes(entries);
  }

  putDurable(key: Uint8Array, value: Uint8Array): Promise<void> {
    return this.writes([[key, value]]);
  }

  /** Reads in one transaction, every request in flight at once (IndexedDB's best case). */
  async getAll(keys: readonly Uint8Array[]): Promise<number> {
    let sum = 0;
    const transaction = this.db!.transaction("kv", "readonly");
    const store = transaction.objectStore("kv");
    for (const key of keys) {
      const got = store.get(key);
      got.onsuccess = () => (sum += valueChecksum(got.result as Uint8Array | undefined));
    }
    await done(transaction);
    return sum;
  }

  async scan(): Promise<number> {
    const transaction = this.db!.transaction("kv", "readonly");
    const cursor = transaction.objectStore("kv").openCursor();
    let count = 0;
    await new Promise<void>((resolve, reject) => {
      cursor.onsuccess = () => {
        if (!cursor.result) return resolve();
        count++;
        cursor.result.continue();
      };
      cursor.onerror = () => reject(cursor.error);
    });
    return count;
  }

  async close(): Promise<void> {
    this.db?.close();
  }
}

class BrowserLevelEngine implements Engine {
  readonly name = "browser-level";
  private db: BrowserLevel<Uint8Array, Uint8Array> | undefined;

  constructor(private readonly location: string) {}

  async open(): Promise<void> {
    await request(indexedDB.deleteDatabase(`level-js-${this.location}`));
    this.db = new BrowserLevel(this.location, { keyEncoding: "view", valueEncoding: "view" });
    await this.db.open();
  }

  batch(entries: readonly Entry[]): Promise<void> {
    return this.db!.batch(entries.map(([key, value]) => ({ type: "put" as const, key, value })));
  }

  putDurable(key: Uint8Array, value: Uint8Array): Promise<void> {
    return this.db!.put(key, value);
  }

  async getAll(keys: readonly Uint8Array[]): Promise<number> {
    let sum = 0;
    for (const value of await this.db!.getMany(keys as Uint8Array[])) sum += valueChecksum(value);
    return sum;
  }

  async scan(): Promise<number> {
    let count = 0;
    for await (const _ of this.db!.iterator()) count++;
    return count;
  }

  async close(): Promise<void> {
    await this.db?.close();
  }
}

/** A fresh set of engines; `tag` keeps each run's files apart. */
export function engines(tag: string): Engine[] {
  return [
    new PgzEngine("pgz (wasm core)", "wasm", `bench-${tag}-pgz-wasm`),
    new PgzEngine("pgz (ts core)", "ts", `bench-${tag}-pgz-ts`),
    new SqliteEngine(`bench-${tag}-sqlite`),
    new IndexedDbEngine(`bench-${tag}-idb`),
    new BrowserLevelEngine(`bench-${tag}-level`),
  ];
}
