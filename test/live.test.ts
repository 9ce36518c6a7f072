/**
 * Live databases with real processes: a writer process (test/fixtures/live-writer.ts) rewrites
 * every key once per round while it compacts and collects log garbage; this process reads it
 * read-only, backs it up, and runs the CLI against it. Every view must be a consistent prefix
 * of the writer's batches (liveRound), at least as new as the last round acknowledged before it.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { DB } from "../ts/index.ts";
import { PgzError } from "../ts/errors.ts";
import { READERS_DIRECTORY } from "../ts/storage/readers.ts";
import { FILE_BACKUP_IN_PROGRESS } from "../ts/api/backup.ts";
import { LIVE_KEYS, liveKey, liveRound, liveValue } from "./fixtures/live-workload.ts";
import { engineCores, removeDirectory, temporaryDirectory, text } from "./helpers.ts";

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const cli = fileURLToPath(new URL("../dist/cli.mjs", import.meta.url));
const WAIT_MILLISECONDS_MAX = 120_000;

/** A child process and the lines it has printed so far. */
class Child {
  readonly lines: string[] = [];
  private buffered = "";
  readonly exited: Promise<void>;

  constructor(readonly process: ChildProcess) {
    process.stdout!.on("data", (chunk: Buffer) => {
      this.buffered += chunk.toString();
      const lines = this.buffered.split("\n");
      this.buffered = lines.pop()!;
      this.lines.push(...lines);
    });
    this.exited = new Promise((resolve) => process.on("close", () => resolve()));
  }

  /** The number in the last "<word> <n>" line, or 0. */
  last(word: string): number {
    for (let index = this.lines.length - 1; index >= 0; index--) {
      const match = new RegExp(`^${word} (\\d+)$`).exec(this.lines[index]!);
      if (match) return Number(match[1]);
    }
    return 0;
  }

  count(line: RegExp): number {
    return this.lines.filter((text) => line.test(text)).length;
  }

  async until(condition: () => boolean, what: string): Promise<void> {
    const started = Date.now();
    while (!condition()) {
      if (this.process.exitCode !== null || this.process.signalCode !== null) throw new Error(`child exited while waiting for ${what}`);
      if (Date.now() - started > WAIT_MILLISECONDS_MAX) throw new Error(`timed out waiting for ${what}`);
      await sleep(10);
    }
  }

  async kill(): Promise<void> {
    this.process.kill("SIGKILL");
    await this.exited;
  }
}

function startTs(file: string, args: string[]): Child {
  return new Child(spawn(process.execPath, ["--import", "tsx", fixture(file), ...args], { stdio: ["ignore", "pipe", "inherit"] }));
}

async function startWriter(directory: string, core: string, rounds = 1): Promise<Child> {
  const writer = startTs("live-writer.ts", [directory, core]);
  await writer.until(() => writer.last("round") >= rounds, `round ${rounds}`);
  return writer;
}

/** Every entry, pausing now and then so the writer gets ahead while the scan is open. */
async function scanSlowly(db: DB): Promise<[string, string][]> {
  const entries: [string, string][] = [];
  for (const [key, value] of db.iterate()) {
    entries.push([text(key)!, text(value)!]);
    if (entries.length % 200 === 0) await sleep(5);
  }
  return entries;
}

function consistentRound(entries: [string, string][], atLeast: number, what: string): number {
  const round = liveRound(entries);
  assert.type(round, "number", `${what}: ${round}`);
  assert.ok((round as number) >= atLeast, `${what}: round ${round}, but round ${atLeast} was acknowledged before`);
  return round as number;
}

/** Opens a copy read-only, checks it and its consistency; returns the sequence it is as of. */
function openAndCheck(directory: string, core: "ts" | "wasm", atLeast: number, what: string): number {
  const db = DB.open(directory, { core, readOnly: true });
  try {
    const report = db.check();
    assert.ok(report.ok, `${what}: ${JSON.stringify(report.problems)}`);
    consistentRound([...db.iterate()].map(([key, value]) => [text(key)!, text(value)!]), atLeast, what);
    return db.sequence;
  } finally {
    db.close();
  }
}

for (const core of engineCores) {
  test(`${core}: a reader process sees one consistent version while the writer process compacts and collects garbage; refresh moves on`, async () => {
    const directory = temporaryDirectory();
    const writer = await startWriter(directory, core, 2);
    try {
      const acknowledged = writer.last("round");
      const reader = DB.open(directory, { core, readOnly: true });
      try {
        const first = await scanSlowly(reader);
        const round = consistentRound(first, acknowledged, "first scan");
        const compactions = writer.count(/^compact$/);
        const collected = writer.lines.filter((line) => /^gc [1-9]/.test(line)).length;
        let scans = 1;
        // Until the writer has compacted and collected segments at least twice more under the reader.
        while (writer.count(/^compact$/) < compactions + 2 || writer.lines.filter((line) => /^gc [1-9]/.test(line)).length < collected + 2) {
          assert.equal(await scanSlowly(reader), first, `scan ${++scans} differs from the first`);
          const index = scans % LIVE_KEYS;
          assert.is(text(reader.get(liveKey(index))), first[index]![1]);
          await writer.until(() => true, "nothing");
        }
        assert.equal(await scanSlowly(reader), first, "the last scan");
        assert.ok(reader.check().ok);
        const before = writer.last("round");
        assert.ok(before > round, "the writer moved on");
        reader.refresh();
        const refreshed = consistentRound(await scanSlowly(reader), before, "after refresh");
        assert.ok(refreshed > round);
      } finally {
        reader.close();
      }
    } finally {
      await writer.kill();
      removeDirectory(directory);
    }
  });

  test(`${core}: a reader process's registration keeps its files across the writer's compaction; a killed reader's is cleaned`, async () => {
    const directory = temporaryDirectory();
    try {
      const seed = DB.open(directory, { core, memtableBytes: 32 * 1024, segmentBytes: 64 * 1024, valueThreshold: 64, autoGc: false });
      for (let index = 0; index < LIVE_KEYS; index++) seed.put(liveKey(index), liveValue(1, index));
      seed.close();
      const tablesAtOpen = readdirSync(directory).filter((name) => name.endsWith(".sst"));
      const reader = startTs("live-reader.ts", [directory, core]);
      await reader.until(() => reader.last("open") > 0, "the reader's open");
      const writer = DB.open(directory, { core, memtableBytes: 32 * 1024, segmentBytes: 64 * 1024, valueThreshold: 64, autoGc: false });
      try {
        for (let index = 0; index < LIVE_KEYS; index++) writer.put(liveKey(index), liveValue(2, index));
        writer.compact();
        writer.gc({ discardRatio: 0, segmentsMax: 100 });
        assert.ok(tablesAtOpen.every((name) => existsSync(join(directory, name))), "the live reader's tables are kept");
        assert.is(readdirSync(join(directory, READERS_DIRECTORY)).length, 1);
        await reader.kill();
        writer.put("next", "write");
        writer.compact();
        assert.equal(readdirSync(join(directory, READERS_DIRECTORY)), [], "the dead reader's registration is removed");
        assert.ok(tablesAtOpen.every((name) => !existsSync(join(directory, name))), "and the files it pinned are deleted");
      } finally {
        writer.close();
        if (reader.process.exitCode === null && reader.process.signalCode === null) await reader.kill();
      }
    } finally {
      removeDirectory(directory);
    }
  });

  test(`${core}: backups under a writer process's load are consistent and incremental`, async () => {
    const directory = temporaryDirectory();
    const target = join(temporaryDirectory("pgz-backup"), "copy");
    const writer = await startWriter(directory, core, 2);
    try {
      let skipped = 0;
      for (let backup = 0; backup < 6; backup++) {
        const acknowledged = writer.last("round");
        const source = DB.open(directory, { core, readOnly: true });
        const report = (() => {
          try {
            return source.backup(target);
          } finally {
            source.close();
          }
        })();
        // Every other backup follows the last at once: most files are still the same.
        if (backup % 2 === 1) skipped += report.filesSkipped;
        openAndCheck(target, core, acknowledged, `backup ${backup}`);
        if (backup % 2 === 1) await writer.until(() => writer.last("round") > acknowledged + 1, "more rounds");
      }
      assert.ok(skipped > 0, "a backup right after another skips unchanged files");
    } finally {
      await writer.kill();
      removeDirectory(directory);
      removeDirectory(join(target, ".."));
    }
  });
}

/** Whether `pid` runs (the event loop does not turn in a polling loop, so exitCode cannot tell). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0]!);
  } catch {
    return false;
  }
}

function runCli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", timeout: 120_000, maxBuffer: 1 << 26 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test("the live-database demo: pgz stats, scan --limit 10, backup and export against a writer under load", async () => {
  const directory = temporaryDirectory();
  const target = join(temporaryDirectory("pgz-backup"), "copy");
  const writer = await startWriter(directory, "wasm", 2);
  try {
    const stats = runCli(["stats", directory]);
    assert.is(stats.status, 0, stats.stderr);
    assert.match(stats.stdout, /last sequence [1-9]\d*/);
    const scan = runCli(["scan", directory, "--limit", "10"]);
    assert.is(scan.status, 0, scan.stderr);
    assert.equal(scan.stdout.trim().split("\n").map((line) => line.split("\t")[0]), Array.from({ length: 10 }, (_, index) => liveKey(index)));
    const acknowledged = writer.last("round");
    const backup = runCli(["backup", directory, target, "--json"]);
    assert.is(backup.status, 0, backup.stderr);
    assert.ok(JSON.parse(backup.stdout).sequence > 0);
    const again = runCli(["backup", directory, target]);
    assert.is(again.status, 0, again.stderr);
    assert.match(again.stdout, /^backup: .* as of sequence [1-9]\d*: \d+ linked, \d+ copied \([\d.]+ [KMG]?i?B\), \d+ unchanged\n$/, again.stdout);
    const exported = runCli(["export", directory]);
    assert.is(exported.status, 0, exported.stderr);
    const entries = exported.stdout.trim().split("\n").map((line) => JSON.parse(line) as { key: string; value: string });
    consistentRound(entries.map(({ key, value }) => [key, value]), acknowledged, "export");
    const check = runCli(["check", target]);
    assert.is(check.status, 0, check.stderr);
    openAndCheck(target, "wasm", acknowledged, "the backup");
    const live = runCli(["check", directory]);
    assert.is(live.status, 0, live.stderr + live.stdout);
  } finally {
    await writer.kill();
    removeDirectory(directory);
    removeDirectory(join(target, ".."));
  }
});

test("backups killed midway leave the previous backup or a refused target, never a partial database", async () => {
  const directory = temporaryDirectory();
  const target = join(temporaryDirectory("pgz-backup"), "copy");
  const writer = await startWriter(directory, "wasm", 2);
  const outcomes = { opened: 0, previousKept: 0, refused: 0, killedAt: {} as Record<string, number> };
  try {
    assert.is(runCli(["backup", directory, target]).status, 0);
    let previousSequence = openAndCheck(target, "wasm", 0, "the first backup");
    // Each kill waits for a stage of the backup to show in the target, then kills at once.
    const stages: [string, (names: string[]) => boolean][] = [
      ["staging", (names) => names.some((name) => /^\d+\.(sst|vlog)\.tmp$/.test(name))],
      ["superblock staged", (names) => names.includes("SUPERBLOCK.new.tmp")],
      ["switching", (names) => names.includes(FILE_BACKUP_IN_PROGRESS)],
    ];
    for (let kill = 0; kill < 12; kill++) {
      await writer.until(() => writer.last("round") > kill + 2, "a new round to back up");
      const child = new Child(spawn(process.execPath, [cli, "backup", directory, target], { stdio: ["ignore", "pipe", "ignore"] }));
      const [stage, reached] = stages[kill % stages.length]!;
      const started = Date.now();
      // Polled without yielding: the kill must come within the stage, not after it.
      while (running(child.process.pid!) && !reached(readdirSync(target)) && Date.now() - started < WAIT_MILLISECONDS_MAX);
      const killedAt = running(child.process.pid!) ? stage : "after it finished";
      outcomes.killedAt[killedAt] = (outcomes.killedAt[killedAt] ?? 0) + 1;
      await child.kill();
      try {
        const sequence = openAndCheck(target, "wasm", 0, `after kill ${kill}`);
        // The previous backup, or (the kill came after the switch) the new one: never older.
        assert.ok(sequence >= previousSequence, `kill ${kill} (${killedAt}): sequence ${sequence} is older than the previous backup's ${previousSequence}`);
        if (sequence === previousSequence) outcomes.previousKept++;
        previousSequence = sequence;
        outcomes.opened++;
      } catch (error) {
        if (!(error instanceof PgzError) || error.code !== "PGZ_CORRUPTION") throw error;
        outcomes.refused++;
        assert.ok(existsSync(join(target, FILE_BACKUP_IN_PROGRESS)), `refused only when a switch was cut short: ${error.message}`);
        // The next backup completes it (and gives the next kill a complete previous backup).
        assert.is(runCli(["backup", directory, target]).status, 0, "a backup after a cut-short switch completes");
        previousSequence = openAndCheck(target, "wasm", 0, `completed after kill ${kill}`);
      }
    }
    const acknowledged = writer.last("round");
    assert.is(runCli(["backup", directory, target]).status, 0, "a backup after the kills completes");
    openAndCheck(target, "wasm", acknowledged, "the final backup");
    console.log(`backup kills: ${JSON.stringify(outcomes)}`);
    assert.ok((outcomes.killedAt.staging ?? 0) > 0, "some kills landed while files were staged");
    assert.ok(outcomes.previousKept > 0, "some kills left the previous backup as it was");
  } finally {
    await writer.kill();
    removeDirectory(directory);
    removeDirectory(join(target, ".."));
  }
});

test.run();
