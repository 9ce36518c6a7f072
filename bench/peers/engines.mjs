/**
 * One adapter per engine, all with the same shape, so a workload is written once:
 *
 *   open(directory, durable) -> instance       (may return a promise)
 *   instance.write(batch)                      batch of { type: "put" | "del", key, value }
 *   instance.get(key) -> value | undefined     synchronous in every engine that has a sync get
 *   instance.getFast(key) -> length | -1       the engine's fastest synchronous read, where it has one
 *                                              (readrandom-fast): lmdb's getBinaryFast (a view valid
 *                                              until the next read); pgz has no such read, so its
 *                                              get, counted the same way
 *   instance.scan(reverse) -> bytes seen       full iteration, keys and values touched
 *   instance.seek(key, count) -> entries seen  position at the first key >= key, read `count`
 *   instance.close()
 *
 * Any of them may return a promise (classic-level's writes and iterators, rocksdb's writes): the
 * driver awaits only when it gets one, so a synchronous engine pays no promise per call.
 *
 * `durable` false is each engine's default durability for a write (or, where its default is
 * already a sync per commit, the setting closest to pgz's default: survives the process being
 * killed, not a power loss). `durable` true makes every engine fsync (or fdatasync) each batch
 * before the write returns. `describe(durable)` says exactly which setting ran.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repositoryRoot = join(here, "..", "..");
const require = createRequire(import.meta.url);

function installedVersion(packageName) {
  try {
    return JSON.parse(readFileSync(join(here, "node_modules", packageName, "package.json"), "utf8")).version;
  } catch {
    return undefined;
  }
}

async function importPgz() {
  // The built bundle, as users get it; `npm run build` makes it.
  const bundle = join(repositoryRoot, "dist", "pgz.mjs");
  try {
    return await import(bundle);
  } catch (error) {
    throw new Error(`cannot import ${bundle} (run \`npm run build\` first): ${error.message}`);
  }
}

/**
 * pgz on one core with `options` added to its defaults. The opt-in engines (pgz-<core>-uncompressed,
 * and PGZ_BENCH_PGZ_VARIANT's) run only when PGZ_BENCH_ENGINES names them: they weigh one option
 * against the defaults in the same run, interleaved.
 */
function pgz(core, options = {}, suffix = "") {
  const extra = Object.entries(options).map(([name, value]) => `, ${name}: ${JSON.stringify(value)}`).join("");
  return {
    name: `pgz-${core}${suffix}`,
    optIn: suffix !== "",
    version: () => JSON.parse(readFileSync(join(repositoryRoot, "package.json"), "utf8")).version,
    describe: (durable) => durable ? `pgz { core: "${core}"${extra}, sync: true }: fdatasync per batch` : `pgz { core: "${core}"${extra} } default durability "os": write(2) per batch, no fsync`,
    async load() {
      this.module = await importPgz();
    },
    open(directory, durable) {
      const db = this.module.DB.open(directory, { ...options, core, ...(durable ? { sync: true } : {}) });
      return {
        db,
        write: (batch) => db.batch(batch),
        get: (key) => db.get(key),
        getFast(key) {
          const value = db.get(key);
          return value === undefined ? -1 : value.length;
        },
        scan(reverse) {
          let bytes = 0;
          for (const [key, value] of db.iterate({ reverse })) bytes += key.length + value.length;
          return bytes;
        },
        seek(key, count) {
          let seen = 0;
          for (const entry of db.iterate({ gte: key, limit: count })) seen += entry.length;
          return seen;
        },
        engineBytesWritten: () => db.stats().diskBytesWritten,
        // How many tables each level holds: level 0 tables are all searched by every read.
        shape: () => db.stats().levels.filter((level) => level.files > 0).map((level) => `L${level.level} ${level.files}`).join(", ") || "memtable only",
        close: () => db.close(),
      };
    },
  };
}

const classicLevel = {
  name: "classic-level",
  version: () => installedVersion("classic-level"),
  describe: (durable) => durable ? "LevelDB via classic-level, batch { sync: true }: fsync per batch; snappy" : "LevelDB via classic-level, default { sync: false }: write(2) to the log per batch; snappy",
  async load() {
    this.module = await import("classic-level");
  },
  async open(directory, durable) {
    const db = new this.module.ClassicLevel(directory, { keyEncoding: "view", valueEncoding: "view" });
    await db.open();
    const writeOptions = { sync: durable };
    return {
      db,
      write: (batch) => db.batch(batch, writeOptions),
      get: (key) => db.getSync(key),
      async scan(reverse) {
        let bytes = 0;
        const iterator = db.iterator({ reverse });
        for (;;) {
          const entries = await iterator.nextv(1000);
          if (entries.length === 0) break;
          for (const [key, value] of entries) bytes += key.length + value.length;
        }
        await iterator.close();
        return bytes;
      },
      async seek(key, count) {
        const iterator = db.iterator({ gte: key, limit: count });
        const entries = await iterator.nextv(count);
        await iterator.close();
        return entries.length * 2;
      },
      close: () => db.close(),
    };
  },
};

const lmdb = {
  name: "lmdb",
  version: () => installedVersion("lmdb"),
  describe: (durable) => durable ? "LMDB via lmdb-js, transactionSync, overlappingSync: false: fsync inside each commit" : "LMDB via lmdb-js, transactionSync, default overlappingSync: commit returns, fsync follows in the background",
  async load() {
    this.module = await import("lmdb");
  },
  open(directory, durable) {
    const options = { path: directory, compression: false, encoding: "binary", keyEncoding: "binary" };
    if (durable) options.overlappingSync = false;
    const db = this.module.open(options);
    return {
      db,
      write(batch) {
        db.transactionSync(() => {
          for (const operation of batch) {
            if (operation.type === "put") db.putSync(operation.key, operation.value);
            else db.removeSync(operation.key);
          }
        });
      },
      get: (key) => db.getBinary(key),
      getFast(key) {
        const value = db.getBinaryFast(key);
        return value === undefined ? -1 : value.length;
      },
      scan(reverse) {
        let bytes = 0;
        for (const { key, value } of db.getRange({ reverse })) bytes += key.length + value.length;
        return bytes;
      },
      seek(key, count) {
        let seen = 0;
        for (const entry of db.getRange({ start: key, limit: count })) seen += entry.key ? 2 : 0;
        return seen;
      },
      close: () => db.close(),
    };
  },
};

const sqlite = {
  name: "sqlite",
  version: () => installedVersion("better-sqlite3"),
  describe: (durable) => durable ? "SQLite via better-sqlite3, WAL, synchronous=FULL: fsync of the WAL per transaction" : "SQLite via better-sqlite3, WAL, synchronous=NORMAL: write(2) to the WAL per transaction, fsync at checkpoints",
  async load() {
    this.module = (await import("better-sqlite3")).default;
  },
  open(directory, durable) {
    const db = new this.module(join(directory, "kv.sqlite"));
    db.pragma("journal_mode = WAL");
    db.pragma(`synchronous = ${durable ? "FULL" : "NORMAL"}`);
    db.exec("CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID");
    const insert = db.prepare("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)");
    const remove = db.prepare("DELETE FROM kv WHERE k = ?");
    const select = db.prepare("SELECT v FROM kv WHERE k = ?").pluck();
    const scanForward = db.prepare("SELECT k, v FROM kv ORDER BY k").raw();
    const scanBackward = db.prepare("SELECT k, v FROM kv ORDER BY k DESC").raw();
    const seekFrom = db.prepare("SELECT k, v FROM kv WHERE k >= ? ORDER BY k LIMIT ?").raw();
    const apply = db.transaction((batch) => {
      for (const operation of batch) {
        if (operation.type === "put") insert.run(operation.key, operation.value);
        else remove.run(operation.key);
      }
    });
    return {
      db,
      write: (batch) => apply(batch),
      get: (key) => select.get(key),
      scan(reverse) {
        let bytes = 0;
        for (const [key, value] of (reverse ? scanBackward : scanForward).iterate()) bytes += key.length + value.length;
        return bytes;
      },
      seek: (key, count) => seekFrom.all(key, count).length * 2,
      close: () => db.close(),
    };
  },
};

const rocksdb = {
  name: "rocksdb",
  version: () => installedVersion("@nxtedition/rocksdb"),
  describe: (durable) => durable ? "RocksDB via @nxtedition/rocksdb, batch { sync: true }: fsync of the WAL per batch; zstd tables and WAL" : "RocksDB via @nxtedition/rocksdb, default { sync: false }: write(2) to the WAL per batch; zstd tables and WAL",
  async load() {
    this.module = require(join(here, "node_modules", "@nxtedition", "rocksdb"));
  },
  async open(directory, durable) {
    const db = new this.module.RocksLevel(directory, { keyEncoding: "buffer", valueEncoding: "buffer" });
    await db.open();
    const writeOptions = { sync: durable };
    const noOptions = {};
    return {
      db,
      write: (batch) => db.batch(batch, writeOptions),
      // Its public get() is asynchronous (a thread-pool round trip per key); the binding's
      // synchronous multi-get is what its own getMany is built on.
      get: (key) => db._getManySync([key], noOptions)[0],
      scan(reverse) {
        let bytes = 0;
        const iterator = db.iterator({ reverse });
        for (;;) {
          const { rows, finished } = iterator._nextvSync(1000, noOptions);
          for (const row of rows) bytes += row.length;
          if (finished) break;
        }
        iterator._closeSync();
        return bytes;
      },
      seek(key, count) {
        const iterator = db.iterator({ gte: key, limit: count });
        const { rows } = iterator._nextvSync(count, noOptions);
        iterator._closeSync();
        return rows.length;
      },
      close: () => db.close(),
    };
  },
};

/** The in-memory ceiling: no disk, no ordering; keys turned into strings per call. */
const memoryMap = {
  name: "map",
  version: () => process.version,
  describe: () => "a JavaScript Map in memory (the ceiling): no disk, no durability",
  async load() {},
  open() {
    const map = new Map();
    const text = (key) => key.latin1Slice(0, key.length);
    return {
      map,
      write(batch) {
        for (const operation of batch) {
          if (operation.type === "put") map.set(text(operation.key), operation.value);
          else map.delete(text(operation.key));
        }
      },
      get: (key) => map.get(text(key)),
      scan(reverse) {
        if (reverse) return undefined;
        let bytes = 0;
        for (const [key, value] of map) bytes += key.length + value.length;
        return bytes;
      },
      seek: undefined,
      close() {},
    };
  },
  inMemory: true,
};

/** PGZ_BENCH_PGZ_VARIANT="NAME:JSON" (e.g. `m16:{"memtableBytes":16777216}`) adds the opt-in engine pgz-wasm-NAME. */
function variants() {
  const variant = process.env.PGZ_BENCH_PGZ_VARIANT;
  if (!variant) return [];
  const colon = variant.indexOf(":");
  if (colon <= 0) throw new Error(`PGZ_BENCH_PGZ_VARIANT must be NAME:JSON options, got ${variant}`);
  return [pgz("wasm", JSON.parse(variant.slice(colon + 1)), `-${variant.slice(0, colon)}`)];
}

export const ENGINES = [pgz("wasm"), pgz("ts"), pgz("wasm", { compression: "none" }, "-uncompressed"), ...variants(), classicLevel, lmdb, sqlite, rocksdb, memoryMap];
