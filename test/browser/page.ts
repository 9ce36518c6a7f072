/**
 * The page side of the browser suite (bundled to page.mjs, driven by test/browser.test.ts):
 * suites that need the synchronous DB run in suite-worker.mjs; the proxy, lock and crash checks
 * run here through openInWorker, as an application would.
 */
import { PgzError, openInWorker, type RemoteDB, type WorkerOpenOptions } from "../../ts/browser.ts";
import type { CoreName } from "../../ts/core/types.ts";
import { random } from "../random.ts";

const decoder = new TextDecoder();
const text = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : decoder.decode(bytes));

function inWorker(suite: string, args?: unknown): Promise<unknown> {
  const worker = new Worker("/suite-worker.mjs", { type: "module" });
  return new Promise<unknown>((resolve, reject) => {
    worker.onmessage = ({ data }) => (data.error ? reject(new Error(data.error)) : resolve(data.result));
    worker.onerror = (event) => reject(new Error(`suite worker failed: ${event.message}`));
    worker.postMessage({ suite, args });
  }).finally(() => worker.terminate());
}

async function codeOf(action: () => Promise<unknown>): Promise<string> {
  try {
    await action();
    return "no error";
  } catch (error) {
    return error instanceof PgzError ? error.code : String(error);
  }
}

async function collect(entries: AsyncIterable<[Uint8Array, Uint8Array]>): Promise<string[]> {
  const result: string[] = [];
  for await (const [key, value] of entries) result.push(`${text(key)}=${text(value)}`);
  return result;
}

/** The proxy's API end to end; one line per failure. */
async function proxyChecks(name: string, core: CoreName): Promise<{ failures: string[]; messagesForManyGets: number }> {
  const failures: string[] = [];
  const expect = (condition: boolean, what: string) => condition || failures.push(`${core}: ${what}`);
  const db = await openInWorker(name, { core, memtableBytes: 16 * 1024 });
  await db.put("a", "1");
  await db.batch([{ type: "put", key: "b", value: "2" }, { type: "put", key: "c", value: "3" }, { type: "del", key: "a" }]);
  expect((await db.get("a")) === undefined && text(await db.get("b")) === "2", "put, batch, delete");
  const keys = Array.from({ length: 2000 }, (_, i) => `many-${String(i).padStart(5, "0")}`);
  await Promise.all(keys.map((key, i) => db.put(key, `value-${i}`)));
  const before = db.messagesSent;
  const values = await Promise.all(keys.map((key) => db.get(key)));
  const messagesForManyGets = db.messagesSent - before;
  expect(values.every((value, i) => text(value) === `value-${i}`), "2,000 gets in one task");
  expect((await db.getMany(["b", "zz"])).map(text).join(",") === "2,", "getMany");
  await db.put("empty", new Uint8Array(0));
  // Point reads of one task come back packed in one buffer: each value exactly its own bytes.
  const [one, many, missing, fromMany] = await Promise.all([db.get("b"), db.getMany(["zz", "empty", "many-00007", "c"]), db.get("zz"), db.getMany([])]);
  const manyText = many.map((value) => (value === undefined ? "-" : `${value.length}:${text(value)}`)).join(",");
  expect(text(one) === "2" && manyText === "-,0:,7:value-7,1:3" && missing === undefined && fromMany.length === 0, `packed point reads: ${text(one)} ${manyText}`);
  expect(one!.buffer === many[2]!.buffer && one!.byteLength === 1, "one task's point reads share one buffer");
  const snapshot = await db.snapshot();
  await db.put("b", "changed");
  const [fromSnapshot, current] = await Promise.all([snapshot.get("b"), db.get("b")]);
  expect(text(fromSnapshot) === "2" && text(current) === "changed", "snapshot get, packed with a get");
  const ranged = await collect(db.iterate({ prefix: "many-", reverse: true, limit: 3 }));
  expect(ranged.join(",") === "many-01999=value-1999,many-01998=value-1998,many-01997=value-1997", `iterate reverse limit: ${ranged}`);
  const all = await collect(db.iterate({ prefix: "many-" }));
  expect(all.length === 2000 && all[0] === "many-00000=value-0", `iterate across chunks: ${all.length}`);
  const early = db.iterate();
  for await (const entry of early) if (entry) break;
  expect((await collect(snapshot.iterate({ lt: "c" }))).join(",") === "b=2", "snapshot iterate");
  await snapshot.release();
  const result = await db.transaction(async (transaction) => {
    const [current, missing] = (await Promise.all([transaction.get("c"), transaction.get("zz")])).map(text);
    if (missing !== undefined) return "a missing key read a value in the transaction";
    transaction.put("c", `${current}+1`);
    return current;
  });
  expect(result === "3" && text(await db.get("c")) === "3+1", "transaction");
  const conflicted = await db.begin();
  await conflicted.get("c");
  await db.put("c", "outside");
  conflicted.put("c", "inside");
  expect((await codeOf(() => conflicted.commit())) === "PGZ_CONFLICT", "a conflicting commit is PGZ_CONFLICT");
  expect((await codeOf(() => db.put(new Uint8Array(70_000), "x"))) === "PGZ_INVALID_ARGUMENT", "errors keep their code");
  const stats = (await db.stats()) as { core: string; opfs: { files: number } };
  expect(stats.core === core && stats.opfs.files > 0, `stats: ${JSON.stringify(stats.opfs)}`);
  expect((await db.check()).ok, "check");
  await db.close();
  expect((await codeOf(() => db.get("b"))) === "PGZ_CLOSED", "use after close is PGZ_CLOSED");
  const reopened = await openInWorker(name, { core });
  expect(text(await reopened.get("c")) === "outside" && text(await reopened.get("many-01234")) === "value-1234", "values after reopen");
  await reopened.close();
  return { failures, messagesForManyGets };
}

/** A second opener (another worker, as another tab would be) gets PGZ_LOCKED, or waits if asked. */
async function lockChecks(name: string): Promise<string[]> {
  const failures: string[] = [];
  const first = await openInWorker(name);
  await first.put("k", "first");
  const code = await codeOf(() => openInWorker(name));
  if (code !== "PGZ_LOCKED") failures.push(`second opener: ${code}`);
  let opened = false;
  const waiting = openInWorker(name, { wait: true }).then((db) => ((opened = true), db));
  await new Promise((resolve) => setTimeout(resolve, 200));
  if (opened) failures.push("a waiting opener got in while the first was open");
  await first.close();
  const second = await waiting;
  if (text(await second.get("k")) !== "first") failures.push("the waiting opener does not see the first one's write");
  await second.close();
  return failures;
}

async function reopen(name: string, options: WorkerOpenOptions): Promise<RemoteDB> {
  // The terminated worker's Web Lock and file handles are let go as it is torn down.
  for (let attempt = 0; ; attempt++) {
    try {
      return await openInWorker(name, { ...options, wait: true });
    } catch (error) {
      if (!(error instanceof PgzError && error.code === "PGZ_LOCKED") || attempt >= 50) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Writes as fast as acknowledgements come until `db` is terminated; records what was acknowledged. */
async function writeUntilKilled(db: RemoteDB, acknowledged: Map<string, string>, written: Map<string, string>, seed: number): Promise<void> {
  const pick = random(seed);
  let index = written.size;
  try {
    for (;;) {
      const group: Promise<void>[] = [];
      for (let call = 0; call < 8; call++) {
        const entries = Array.from({ length: 1 + Math.floor(pick() * 4) }, () => {
          const key = `key-${String(index++).padStart(7, "0")}`;
          return [key, `${key}:${"v".repeat(Math.floor(pick() * 1200))}`] as const;
        });
        for (const [key, value] of entries) written.set(key, value);
        const sync = pick() < 0.2;
        const write = entries.length === 1 ? db.put(entries[0]![0], entries[0]![1], { sync }) : db.batch(entries.map(([key, value]) => ({ type: "put" as const, key, value })), { sync });
        group.push(write.then(() => entries.forEach(([key, value]) => acknowledged.set(key, value))));
      }
      await Promise.all(group);
    }
  } catch (error) {
    if (!(error instanceof PgzError && error.code === "PGZ_CLOSED")) throw error;
  }
}

/** Terminates the worker mid-write `rounds` times; after each reopen every acknowledged write must be there. */
async function crashChecks(name: string, core: CoreName, rounds: number, seed: number): Promise<{ acknowledged: number; lost: number; wrong: number; unacknowledgedPresent: number; rounds: number }> {
  const options = { core, memtableBytes: 32 * 1024, segmentBytes: 64 * 1024 };
  const acknowledged = new Map<string, string>();
  const written = new Map<string, string>();
  const pick = random(seed);
  let lost = 0;
  let wrong = 0;
  let unacknowledgedPresent = 0;
  for (let round = 0; round < rounds; round++) {
    const db = await reopen(name, options);
    // Killed from a timer, so mostly while the worker is in the middle of a group of writes.
    setTimeout(() => db.terminate(), 100 + Math.floor(pick() * 400));
    await writeUntilKilled(db, acknowledged, written, seed + round);
    const check = await reopen(name, options);
    const keys = [...written.keys()];
    const values = await check.getMany(keys);
    keys.forEach((key, i) => {
      const value = text(values[i]);
      if (acknowledged.has(key) && value === undefined) lost++;
      else if (value !== undefined && value !== written.get(key)) wrong++;
      else if (!acknowledged.has(key) && value !== undefined) {
        // Written but not acknowledged before the kill, and recovered: from now on it must stay.
        unacknowledgedPresent++;
        acknowledged.set(key, value);
      }
    });
    if (!(await check.check()).ok) wrong++;
    await check.close();
  }
  return { acknowledged: acknowledged.size, lost, wrong, unacknowledgedPresent, rounds };
}

Object.assign(globalThis, { pgzSuite: { inWorker, proxyChecks, lockChecks, crashChecks } });
(globalThis as { pgzReady?: boolean }).pgzReady = true;
