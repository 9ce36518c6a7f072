/**
 * What the `pgz` commands do beyond one call: scan, import and export, stats, check, bench (with
 * progress bars) and the compact and gc maintenance commands.
 */
import { once } from "node:events";
import { createReadStream, createWriteStream, rmSync, mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { fromHex } from "../bytes.ts";
import { DB, type IterateOptions } from "../api/db.ts";
import { formatEntry, humanBytes, LineWriter, secondsText, startProgress, table, type Format } from "./cli-output.ts";
import { PgzError } from "../errors.ts";
import { type Command, HEX_OPTION_HELP, OPEN_OPTIONS, OPEN_OPTION_HELP, type Options, UsageError, type Values, argumentBytes, coreOf, formatOf, integerOf, openDatabase, withDatabase } from "./cli-arguments.ts";

export interface ScanPlan {
  options: IterateOptions;
  format: Format;
  keysOnly: boolean;
}

/** Every scan argument, checked before the database is opened. */
export function scanPlan(values: Values): ScanPlan {
  const options: IterateOptions = { reverse: values.reverse === true };
  for (const bound of ["gt", "gte", "lt", "lte", "prefix"] as const) {
    const raw = values[bound];
    if (typeof raw === "string") options[bound] = argumentBytes(raw, values, `--${bound}`);
  }
  if (values.limit !== undefined) options.limit = integerOf(values, "limit", 0, 0);
  return { options, format: formatOf(values), keysOnly: values["keys-only"] === true };
}

export async function scan(db: DB, plan: ScanPlan, writer: LineWriter): Promise<void> {
  for (const [key, value] of db.iterate(plan.options)) await writer.line(formatEntry(plan.format, key, plan.keysOnly ? undefined : value));
  await writer.flush();
}

/** Decodes one import line: {"key"|"keyHex", "value"|"valueHex"}. */
export function parseImportLine(line: string, lineNumber: number): { key: Uint8Array | string; value: Uint8Array | string } {
  const fail = (message: string) => new PgzError("PGZ_INVALID_ARGUMENT", `line ${lineNumber}: ${message}`);
  let entry: unknown;
  try {
    entry = JSON.parse(line);
  } catch {
    throw fail("not valid JSON");
  }
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) throw fail("expected an object with key and value");
  const record = entry as Record<string, unknown>;
  const field = (name: string): Uint8Array | string => {
    const text = record[name];
    const hex = record[`${name}Hex`];
    if (typeof text === "string") return text;
    if (typeof hex === "string" && /^(?:[0-9a-fA-F]{2})*$/.test(hex)) return fromHex(hex);
    throw fail(`expected "${name}" (a string) or "${name}Hex" (hex)`);
  };
  return { key: field("key"), value: field("value") };
}

export const IMPORT_BATCH_ENTRIES = 1000;

export async function importLines(db: DB, source: string): Promise<number> {
  const fromStdin = source === "-";
  const input = fromStdin ? process.stdin : createReadStream(source);
  const totalBytes = fromStdin ? 0 : statSync(source).size;
  const progress = await startProgress("import", totalBytes, fromStdin ? "lines" : "bytes");
  const lines = createInterface({ input, crlfDelay: Infinity });
  let batch: { type: "put"; key: Uint8Array | string; value: Uint8Array | string }[] = [];
  let lineNumber = 0;
  let imported = 0;
  try {
    for await (const line of lines) {
      lineNumber++;
      if (line.trim() === "") continue;
      batch.push({ type: "put", ...parseImportLine(line, lineNumber) });
      if (batch.length >= IMPORT_BATCH_ENTRIES) {
        db.batch(batch);
        imported += batch.length;
        batch = [];
        progress.update(fromStdin ? lineNumber : (input as ReturnType<typeof createReadStream>).bytesRead);
      }
    }
    db.batch(batch);
    imported += batch.length;
    progress.update(fromStdin ? lineNumber : totalBytes);
  } finally {
    progress.stop();
    lines.close();
    if (!fromStdin) (input as ReturnType<typeof createReadStream>).destroy();
  }
  console.error(`imported ${imported} entries`);
  return 0;
}

export async function exportLines(db: DB, target: string | undefined): Promise<number> {
  const toStdout = target === undefined || target === "-";
  const stream = toStdout ? process.stdout : createWriteStream(target);
  if (!toStdout) await once(stream, "open");
  const stats = db.stats();
  // Tombstones and overwritten versions count too: an upper bound, so the bar may end early.
  const estimate = stats.levels.reduce((sum, level) => sum + level.entries, 0) + stats.memtable.entries;
  const progress = await startProgress("export", estimate, "entries", !(toStdout && process.stdout.isTTY));
  const writer = new LineWriter(stream);
  let exported = 0;
  try {
    for (const [key, value] of db.iterate()) {
      await writer.line(formatEntry("json", key, value));
      if (++exported % 1000 === 0) progress.update(exported);
    }
    await writer.flush();
    progress.update(exported);
  } finally {
    progress.stop();
  }
  if (!toStdout) {
    stream.end();
    await once(stream, "finish");
  }
  console.error(`exported ${exported} entries`);
  return 0;
}

/** The compaction line, when this version's stats have one. */
export function compactionRow(stats: object): string[][] {
  const compaction = (stats as { compaction?: { done?: number; bytesRead?: number; bytesWritten?: number; pending?: boolean; stallMilliseconds?: number } }).compaction;
  if (!compaction) return [];
  const text =
    `${compaction.done ?? 0} done, ${humanBytes(compaction.bytesRead ?? 0)} read, ${humanBytes(compaction.bytesWritten ?? 0)} written, ` +
    `${compaction.pending ? "pending" : "none pending"}, writes stalled ${compaction.stallMilliseconds ?? 0} ms`;
  return [["compaction", text]];
}

export function printStats(db: DB, json: boolean): number {
  const stats = db.stats();
  if (json) {
    console.log(JSON.stringify(stats, null, 2));
    return 0;
  }
  const lines = [
    `core ${stats.core}, durability ${stats.durability}, last sequence ${stats.lastSequence}`,
    "",
    ...table([["level", "files", "bytes", "entries"], ...stats.levels.map((level) => [`L${level.level}`, String(level.files), humanBytes(level.bytes), String(level.entries)])]),
    "",
    ...[
      ["memtable", `${humanBytes(stats.memtable.bytes)}, ${stats.memtable.entries} entries, ${stats.memtable.immutables} immutable`],
      ["log", `${stats.log.segments} segments, ${humanBytes(stats.log.bytesWritten)} written this session, ${stats.log.syncs} syncs`],
      ["block cache", `${humanBytes(stats.blockCache.bytes)} of ${humanBytes(stats.blockCache.bytesMax)}, ${stats.blockCache.hits} hits, ${stats.blockCache.misses} misses`],
      ["bytes written", `user ${humanBytes(stats.userBytesWritten)}, disk ${humanBytes(stats.diskBytesWritten)} (this session)`],
      ["flushes", String(stats.flushes)],
      ...compactionRow(stats),
      ["snapshots", String(stats.snapshots)],
    ].map(([label, text]) => `${label!.padEnd(13)}  ${text}`),
  ];
  for (const line of lines) console.log(line);
  return 0;
}

export async function check(directory: string, values: Values): Promise<number> {
  let db: DB;
  try {
    db = openDatabase(directory, values, false, true);
  } catch (error) {
    // Damage that stops the open is a finding like any other: report it where it is.
    if (error instanceof PgzError && error.code === "PGZ_CORRUPTION") {
      console.log(`${error.file ?? directory} ${error.offset ?? 0} ${error.message}`);
      console.error("check: 1 problem (the database does not open)");
      return 1;
    }
    throw error;
  }
  try {
    const progress = await startProgress("check", 1, "steps");
    // db.check() is one synchronous pass: the bar marks its start and its end.
    const report = db.check();
    progress.update(1);
    progress.stop();
    for (const problem of report.problems) console.log(`${problem.file} ${problem.offset} ${problem.message}`);
    const checked = `${report.tables} tables and ${report.segments} log segments`;
    console.error(report.ok ? `check: ok, ${checked} verified` : `check: ${report.problems.length} problems in ${checked}`);
    return report.ok ? 0 : 1;
  } finally {
    db.close();
  }
}

/** A db_bench-style run: fillrandom (single puts) then readrandom, on a temporary directory. */
export async function bench(values: Values): Promise<number> {
  const keyCount = integerOf(values, "keys", 100_000, 1);
  const valueBytes = integerOf(values, "value-bytes", 100, 0);
  const core = coreOf(values);
  const directory = mkdtempSync(join(tmpdir(), "pgz-bench-"));
  const encoder = new TextEncoder();
  // 16-byte keys in a scrambled order: a hashed prefix, then the index (so all are distinct).
  const keys = Array.from({ length: keyCount }, (_, index) => {
    const hashed = (Math.imul(index + 1, 2654435761) >>> 0) % 10_000_000_000;
    return encoder.encode(String(hashed).padStart(10, "0") + String(index).padStart(6, "0"));
  });
  const value = Uint8Array.from({ length: valueBytes }, (_, i) => (i * 31 + 7) & 0xff);
  try {
    const db = DB.open(directory, { core, ...(values.sync ? { sync: true } : {}) });
    try {
      const fill = await timed("fillrandom", keyCount, (index) => db.put(keys[index]!, value));
      let found = 0;
      let state = 12345;
      const read = await timed("readrandom", keyCount, () => {
        state = (Math.imul(state, 1103515245) + 12345) >>> 0;
        if (db.get(keys[state % keyCount]!) !== undefined) found++;
      });
      const mebibytes = (keyCount * (16 + valueBytes)) / (1024 * 1024);
      console.log(`pgz bench: ${keyCount} keys, 16 B keys, ${valueBytes} B values, core ${core}${values.sync ? ", sync" : ""}`);
      console.log(`fillrandom : ${Math.round(keyCount / fill).toLocaleString("en-US").padStart(10)} ops/s  ${(mebibytes / fill).toFixed(1)} MiB/s`);
      console.log(`readrandom : ${Math.round(keyCount / read).toLocaleString("en-US").padStart(10)} ops/s  (${found} of ${keyCount} found)`);
      return found === keyCount ? 0 : 1;
    } finally {
      db.close();
    }
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/** Runs `operation(index)` `count` times with a progress bar; returns the seconds it took. */
export async function timed(label: string, count: number, operation: (index: number) => void): Promise<number> {
  const progress = await startProgress(label.padEnd(10), count, "ops");
  const started = performance.now();
  for (let index = 0; index < count; index++) {
    operation(index);
    if ((index + 1) % 1000 === 0) progress.update(index + 1);
  }
  const seconds = (performance.now() - started) / 1000;
  progress.update(count);
  progress.stop();
  return seconds;
}

/** compact and gc. */
export function maintenance(name: "compact" | "gc"): Command {
  const isCompact = name === "compact";
  const extraOptions: Options = isCompact
    ? { gte: { type: "string" }, lt: { type: "string" }, hex: { type: "boolean" } }
    : { "discard-ratio": { type: "string" }, "segments-max": { type: "string" }, json: { type: "boolean" } };
  const extraHelp = isCompact
    ? ["--gte K, --lt K   only tables overlapping [K1, K2)", HEX_OPTION_HELP]
    : [
        "--discard-ratio R  collect segments at least this garbage (0..1, engine default 0.5)",
        "--segments-max N   at most N segments (engine default 1)",
        "--json             the raw db.gc() report",
      ];
  return {
    usage: `${name} <dir>`,
    summary: isCompact ? "compact the LSM tree (a key range with --gte/--lt)" : "collect value-log segments that are mostly garbage",
    options: { ...OPEN_OPTIONS, ...extraOptions },
    optionHelp: [...extraHelp, ...OPEN_OPTION_HELP],
    positionals: { min: 1, max: 1 },
    run([directory], values) {
      if (isCompact) {
        const range: { gte?: Uint8Array | string; lt?: Uint8Array | string } = {};
        for (const bound of ["gte", "lt"] as const) if (typeof values[bound] === "string") range[bound] = argumentBytes(values[bound] as string, values, `--${bound}`);
        return withDatabase(directory!, values, false, (db) => {
          const started = performance.now();
          db.compact(range);
          console.error(`compact: done in ${secondsText(performance.now() - started)}`);
          return 0;
        });
      }
      const options = gcOptionsOf(values);
      return withDatabase(directory!, values, false, (db) => {
        const started = performance.now();
        const report = db.gc(options);
        const milliseconds = performance.now() - started;
        console.log(values.json ? JSON.stringify(report) : gcReportText(report, milliseconds));
        return 0;
      });
    },
  };
}

export function gcOptionsOf(values: Values): { discardRatio?: number; segmentsMax?: number } {
  const options: { discardRatio?: number; segmentsMax?: number } = {};
  if (values["discard-ratio"] !== undefined) {
    const ratio = Number(values["discard-ratio"]);
    if (!(ratio >= 0 && ratio <= 1)) throw new UsageError(`--discard-ratio must be a number in [0, 1], got ${JSON.stringify(values["discard-ratio"])}`);
    options.discardRatio = ratio;
  }
  if (values["segments-max"] !== undefined) options.segmentsMax = integerOf(values, "segments-max", 1, 1);
  return options;
}

/** One line: what gc collected and rewrote, in MiB and MiB/s. */
export function gcReportText(report: ReturnType<DB["gc"]>, milliseconds: number): string {
  const collected = report.segmentsCollected.length;
  const rate = milliseconds > 0 ? humanBytes((report.bytesRewritten * 1000) / milliseconds) : humanBytes(0);
  return (
    `gc: collected ${collected} segment${collected === 1 ? "" : "s"}, rewrote ${report.recordsRewritten} live records ` +
    `(${humanBytes(report.bytesRewritten)}) in ${secondsText(milliseconds)}, ${rate}/s`
  );
}

