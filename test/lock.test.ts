/**
 * The database lock (ts/storage/lock.ts) fails closed: a second open of one directory is PGZ_LOCKED
 * through a symlink, from a worker thread, from a second copy of the bundle, from Deno with the
 * README's flags, and when its LOCK names this process; of several processes racing for a stale
 * LOCK exactly one wins; a reused pid's LOCK is taken over; a close never removes a LOCK that is
 * not its own. Children and workers run test/fixtures/opener.mjs.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { DB } from "../ts/index.ts";
import { encodeLockOwner } from "../ts/storage/lock.ts";
import { expectCode, removeDirectory, temporaryDirectory, text } from "./helpers.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const opener = fileURLToPath(new URL("./fixtures/opener.mjs", import.meta.url));
const bundle = pathToFileURL(`${root}dist/pgz.mjs`).href;
const source = pathToFileURL(`${root}ts/index.ts`).href;
const denoFlags = ["run", "--quiet", "--allow-read", "--allow-write", "--allow-env", "--allow-sys"];

interface Outcome {
  opened: boolean;
  code?: string;
  message?: string;
}

/** Field 22 of /proc/self/stat: this process's start time, read apart from ts/storage/lock.ts. */
function startTimeOfThisProcess(): string {
  const stat = readFileSync("/proc/self/stat", "latin1");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]!;
}

/** The pid of a process that has exited (and been reaped). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", ""]);
  assert.is(child.status, 0);
  return child.pid!;
}

function writeLock(directory: string, pid: number, startTime: string): void {
  writeFileSync(join(directory, "LOCK"), encodeLockOwner({ pid, startTime, nonce: "written-by-the-test" }));
}

function runOpener(program: string, args: string[], options: object): Outcome {
  const child = spawnSync(program, [...args, opener, JSON.stringify(options)], { encoding: "utf8", timeout: 120_000, env: { ...process.env, DENO_NO_UPDATE_CHECK: "1" } });
  assert.is(child.status, 0, `${program} failed: ${child.stderr}`);
  return JSON.parse(child.stdout.trim().split("\n").pop()!) as Outcome;
}

/** Writes, closes and reopens `directory`: the data written by `db` is all there. */
function assertKeepsData(db: DB, directory: string): void {
  db.put("after", "the second opener", { sync: true });
  db.close();
  const reopened = DB.open(directory);
  try {
    assert.is(text(reopened.get("before")), "the first opener");
    assert.is(text(reopened.get("after")), "the second opener");
  } finally {
    reopened.close();
  }
}

test("a second open through a symlink to the directory is PGZ_LOCKED; the first stays usable", () => {
  const parent = temporaryDirectory();
  try {
    const directory = join(parent, "db");
    const link = join(parent, "link");
    const db = DB.open(directory);
    symlinkSync(directory, link);
    db.put("before", "the first opener");
    expectCode("PGZ_LOCKED", () => DB.open(link), "open through the symlink");
    assert.ok(existsSync(join(directory, "LOCK")), "the first opener's LOCK stays");
    assertKeepsData(db, directory);
  } finally {
    removeDirectory(parent);
  }
});

test("a second open from a worker thread is PGZ_LOCKED, and the worker leaves the LOCK alone", async () => {
  const directory = temporaryDirectory();
  try {
    const db = DB.open(directory);
    db.put("before", "the first opener");
    const worker = new Worker(opener, { workerData: { module: source, directory, key: "from-the-worker" } });
    const outcome = await new Promise<Outcome>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
    });
    await new Promise((resolve) => worker.once("exit", resolve));
    assert.is(outcome.code, "PGZ_LOCKED", outcome.message);
    assert.ok(existsSync(join(directory, "LOCK")), "the holder's LOCK survives the worker");
    assert.is(db.get("from-the-worker"), undefined);
    assertKeepsData(db, directory);
  } finally {
    removeDirectory(directory);
  }
});

test("two copies of the bundle in one process: the second open is PGZ_LOCKED", async () => {
  const directory = temporaryDirectory();
  const copies = temporaryDirectory("pgz-bundle");
  try {
    // The whole dist/ (pgz.mjs imports the engine from dist/chunks/): a second URL for every module.
    cpSync(`${root}dist`, copies, { recursive: true });
    const copy = join(copies, "pgz.mjs");
    const first = (await import(bundle)) as typeof import("../ts/index.ts");
    const second = (await import(pathToFileURL(copy).href)) as typeof import("../ts/index.ts");
    assert.is.not(first.DB, second.DB, "two module instances");
    const db = first.DB.open(directory);
    db.put("before", "the first opener");
    try {
      second.DB.open(directory);
      assert.unreachable("the second copy opened the database");
    } catch (error) {
      assert.is((error as { code?: string }).code, "PGZ_LOCKED", String(error));
    }
    assert.ok(existsSync(join(directory, "LOCK")));
    assertKeepsData(db as unknown as DB, directory);
  } finally {
    removeDirectory(directory);
    removeDirectory(copies);
  }
});

/**
 * The outcome an opener child prints last. Read on "close", not "exit": "exit" may come before
 * the child's output has been read from its pipes, and a failure would then show none of it.
 */
function outcomeOf(child: ChildProcess, name: string): Promise<Outcome> {
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (chunk) => (stdout += chunk));
  child.stderr!.on("data", (chunk) => (stderr += chunk));
  return new Promise<Outcome>((resolve, reject) => {
    child.on("close", (status, signal) => {
      const last = stdout.trim().split("\n").pop()!;
      if (status === 0 && last.startsWith("{")) resolve(JSON.parse(last) as Outcome);
      else reject(new Error(`${name} failed (exit code ${status}, signal ${signal}): stdout ${JSON.stringify(stdout)}, stderr ${JSON.stringify(stderr)}`));
    });
  });
}

/** Starts `count` child processes that open `directory` at once; the winner holds until all tried. */
async function race(directory: string, attempts: string, go: string, count: number): Promise<Outcome[]> {
  const children = Array.from({ length: count }, (_, index) => {
    const options = { module: bundle, directory, go, attempts, openers: count, index };
    return outcomeOf(spawn(process.execPath, [opener, JSON.stringify(options)], { stdio: ["ignore", "pipe", "pipe"] }), `opener ${index}`);
  });
  writeFileSync(go, "");
  return Promise.all(children);
}

test("processes racing for a stale LOCK: exactly one wins, the others get PGZ_LOCKED", async () => {
  const rounds = 4;
  const openers = 8;
  for (let round = 0; round < rounds; round++) {
    const directory = temporaryDirectory();
    const scratch = temporaryDirectory("pgz-race");
    try {
      DB.open(directory).close();
      writeLock(directory, deadPid(), "1");
      const attempts = join(scratch, "attempts");
      mkdirSync(attempts);
      const outcomes = await race(directory, attempts, join(scratch, "go"), openers);
      const winners = outcomes.filter((outcome) => outcome.opened);
      assert.is(winners.length, 1, `round ${round}: ${JSON.stringify(outcomes)}`);
      for (const outcome of outcomes) if (!outcome.opened) assert.is(outcome.code, "PGZ_LOCKED", `round ${round}: ${outcome.message}`);
      assert.not.ok(existsSync(join(directory, "LOCK")), "the winner released its LOCK");
      assert.not.ok(existsSync(join(directory, "LOCK.break")), "the guard is gone");
    } finally {
      removeDirectory(directory);
      removeDirectory(scratch);
    }
  }
});

/** Spawns an opener under tsx (the source, not the bundle); resolves with its outcome. */
function startOpener(options: object): Promise<Outcome> {
  return outcomeOf(spawn(process.execPath, ["--import", "tsx", opener, JSON.stringify(options)], { cwd: root, stdio: ["ignore", "pipe", "pipe"] }), "opener");
}

async function untilExists(file: string): Promise<void> {
  while (!existsSync(file)) await new Promise((resolve) => setTimeout(resolve, 10));
}

test("a slow opener that judged a LOCK stale loses to the one that took it meanwhile", async () => {
  const directory = temporaryDirectory();
  const scratch = temporaryDirectory("pgz-race");
  try {
    DB.open(directory).close();
    writeLock(directory, deadPid(), "1");
    const attempts = join(scratch, "attempts");
    mkdirSync(attempts);
    const pause = { read: join(scratch, "slow-read"), resume: join(scratch, "slow-resume") };
    const common = { module: source, directory, attempts, openers: 2 };
    const slow = startOpener({ ...common, index: 0, pause, storageModule: pathToFileURL(`${root}ts/storage/node.ts`).href });
    await untilExists(pause.read);
    const fast = startOpener({ ...common, index: 1 });
    // The fast opener marks its attempt once it holds the lock; then the slow one goes on.
    while (readdirSync(attempts).length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    writeFileSync(pause.resume, "");
    const outcomes = await Promise.all([slow, fast]);
    assert.ok(outcomes[1]!.opened, outcomes[1]!.message);
    assert.is(outcomes[0]!.code, "PGZ_LOCKED", `the slow opener: ${JSON.stringify(outcomes[0])}`);
  } finally {
    removeDirectory(directory);
    removeDirectory(scratch);
  }
});

test("a LOCK naming a live pid with another start time (pid reused) is taken over", () => {
  const directory = temporaryDirectory();
  try {
    DB.open(directory).close();
    writeLock(directory, process.ppid, "1");
    if (process.platform === "linux") {
      DB.open(directory).close();
      assert.not.ok(existsSync(join(directory, "LOCK")));
    } else {
      // No start times off Linux: a live pid cannot be told from its first owner, so it is refused.
      expectCode("PGZ_LOCKED", () => DB.open(directory));
    }
  } finally {
    removeDirectory(directory);
  }
});

test("a LOCK naming this process (pid and start time) is PGZ_LOCKED and stays", () => {
  const directory = temporaryDirectory();
  try {
    DB.open(directory).close();
    writeLock(directory, process.pid, startTimeOfThisProcess());
    const before = readFileSync(join(directory, "LOCK"));
    expectCode("PGZ_LOCKED", () => DB.open(directory), "LOCK names this process", /held in this process/);
    assert.equal(readFileSync(join(directory, "LOCK")), before);
  } finally {
    removeDirectory(directory);
  }
});

test("a LOCK naming a dead process is taken over; one naming no owner is PGZ_LOCKED", () => {
  const directory = temporaryDirectory();
  try {
    DB.open(directory).close();
    writeLock(directory, deadPid(), "");
    DB.open(directory).close();
    writeFileSync(join(directory, "LOCK"), "");
    expectCode("PGZ_LOCKED", () => DB.open(directory), "empty LOCK", /remove it by hand/);
    writeFileSync(join(directory, "LOCK"), String(deadPid()));
    DB.open(directory).close();
  } finally {
    removeDirectory(directory);
  }
});

test("a LOCK.break guard left by a dead process is broken; one held by a live process refuses", () => {
  const directory = temporaryDirectory();
  try {
    DB.open(directory).close();
    const guard = join(directory, "LOCK.break");
    writeLock(directory, deadPid(), "1");
    writeFileSync(guard, encodeLockOwner({ pid: process.ppid, startTime: "", nonce: "a live opener" }));
    expectCode("PGZ_LOCKED", () => DB.open(directory), "live guard", /LOCK\.break/);
    writeFileSync(guard, encodeLockOwner({ pid: deadPid(), startTime: "1", nonce: "a dead opener" }));
    DB.open(directory).close();
    assert.not.ok(existsSync(guard), "the dead opener's guard is gone");
    assert.not.ok(existsSync(join(directory, "LOCK")));
  } finally {
    removeDirectory(directory);
  }
});

test("close() leaves a LOCK that someone else's content replaced", () => {
  const directory = temporaryDirectory();
  try {
    const db = DB.open(directory);
    writeLock(directory, process.ppid, "");
    const replaced = readFileSync(join(directory, "LOCK"));
    db.close();
    assert.equal(readFileSync(join(directory, "LOCK")), replaced, "the replaced LOCK survives close");
  } finally {
    removeDirectory(directory);
  }
});

test("deno with the README's flags, and with --allow-run: PGZ_LOCKED while Node holds the database", () => {
  const directory = temporaryDirectory();
  try {
    const db = DB.open(directory);
    db.put("before", "the first opener");
    // --allow-run lets Deno probe with kill(pid, 0), which sees the owner alive but not its
    // start time: that is no proof of a reused pid.
    for (const flags of [denoFlags, [...denoFlags, "--allow-run"]]) {
      const outcome = runOpener(`${root}node_modules/.bin/deno`, flags, { module: bundle, directory, key: "from-deno" });
      assert.is(outcome.code, "PGZ_LOCKED", `${flags.join(" ")}: ${outcome.message}`);
      assert.ok(existsSync(join(directory, "LOCK")));
    }
    assertKeepsData(db, directory);
  } finally {
    removeDirectory(directory);
  }
});

test("deno and a stale LOCK: refused with the README's flags (it cannot probe), taken over with --allow-run or --allow-all", () => {
  const directory = temporaryDirectory();
  try {
    DB.open(directory).close();
    writeLock(directory, deadPid(), "1");
    const refused = runOpener(`${root}node_modules/.bin/deno`, denoFlags, { module: bundle, directory });
    assert.is(refused.code, "PGZ_LOCKED", refused.message);
    assert.match(refused.message!, /cannot be told/);
    for (const flags of [[...denoFlags, "--allow-run"], ["run", "--quiet", "--allow-all"]]) {
      const taken = runOpener(`${root}node_modules/.bin/deno`, flags, { module: bundle, directory });
      assert.ok(taken.opened, `${flags.join(" ")}: ${taken.message}`);
      assert.not.ok(existsSync(join(directory, "LOCK")), `${flags.join(" ")}: deno released its LOCK`);
      writeLock(directory, deadPid(), "1");
    }
  } finally {
    removeDirectory(directory);
  }
});

test.run();
