/**
 * The `pgz` command: put, get, del, scan, import, export, stats, check, dump, bench, compact
 * and gc on a database directory. Arguments are parsed with node:util parseArgs, which Node,
 * Deno and Bun all provide.
 *
 * Errors print one line, `pgz: <code>: <message>`, and exit non-zero: 1 for a failed operation
 * (a PgzError, a missing key, damage found), 2 for a usage mistake. Only an unexpected error (a
 * bug) prints its stack.
 */
import { once } from "node:events";
import { createReadStream, createWriteStream, existsSync, readdirSync, readFileSync, rmSync, mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { fromHex } from "../bytes.ts";
import type { CoreName } from "../core/types.ts";
import "../storage/node-platform.ts";
import { DB, type IterateOptions, type OpenOptions } from "../api/db.ts";
import { dumpFile } from "./dump.ts";
import { formatEntry, humanBytes, LineWriter, secondsText, startProgress, table, type Format } from "./cli-output.ts";
import { PgzError } from "../errors.ts";
import { FILE_SUPERBLOCK } from "../format.ts";

/** A mistake in the command line: one line and exit code 2, never a stack. */
class UsageError extends Error {
  constructor(
    message: string,
    readonly code = "PGZ_USAGE",
    readonly exitCode = 2,
  ) {
    super(message);
  }
}

/** An expected failure that is not a PgzError (a missing key): one line, exit code 1. */
class CommandError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Values = Record<string, string | boolean | undefined>;
type Options = NonNullable<ParseArgsConfig["options"]>;

interface Command {
  usage: string;
  summary: string;
  details?: string;
  options: Options;
  /** Help lines for `options`, in order. */
  optionHelp: string[];
  positionals: { min: number; max: number };
  run(positionals: string[], values: Values): Promise<number>;
}

/** Options of the commands that only read: no --sync, since they write nothing to sync. */
const READ_OPTIONS: Options = { core: { type: "string" } };
const READ_OPTION_HELP = ['--core wasm|ts   which core runs the hot paths (default "wasm")'];
const OPEN_OPTIONS: Options = { ...READ_OPTIONS, sync: { type: "boolean" } };
const OPEN_OPTION_HELP = [...READ_OPTION_HELP, "--sync           fdatasync every write before it returns"];
/** put and import make a database; --create lets them make one in a directory holding other files. */
const CREATE_OPTIONS: Options = { ...OPEN_OPTIONS, create: { type: "boolean" } };
const CREATE_OPTION_HELP = ["--create         make a database even in a directory that holds other files", ...OPEN_OPTION_HELP];
const HEX_OPTION_HELP = "--hex            keys, values and bounds on the command line are hex";
const FORMAT_OPTION_HELP = "--format F       text (default: UTF-8, or 0x-hex when not printable), hex, or json";

// ---------------------------------------------------------------------------------------------
// Arguments

function coreOf(values: Values): CoreName {
  const core = values.core ?? "wasm";
  if (core !== "wasm" && core !== "ts") throw new UsageError(`--core must be "wasm" or "ts", got ${JSON.stringify(core)}`);
  return core;
}

function integerOf(values: Values, name: string, fallback: number, minimum: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (typeof raw !== "string" || !/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < minimum) {
    throw new UsageError(`--${name} must be an integer >= ${minimum}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** A key, value or bound from the command line: UTF-8, or hex with --hex. */
function argumentBytes(text: string, values: Values, what: string): Uint8Array | string {
  if (!values.hex) return text;
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(text)) throw new UsageError(`${what} is not hex: ${JSON.stringify(text)}`);
  return fromHex(text);
}

function formatOf(values: Values): Format {
  const format = values.format ?? "text";
  if (format !== "text" && format !== "hex" && format !== "json") throw new UsageError(`--format must be text, hex or json, got ${JSON.stringify(format)}`);
  return format;
}

// ---------------------------------------------------------------------------------------------
// Opening

/** The path itself, or the nearest of its parents that exists, if that is not a directory. */
function fileInTheWay(directory: string): string | undefined {
  let path = directory;
  while (!existsSync(path)) {
    if (dirname(path) === path) return undefined;
    path = dirname(path);
  }
  return statSync(path).isDirectory() ? undefined : path;
}

/** A database is a directory: a path that is (or lies under) a file is refused by name. */
function checkNoFileInTheWay(directory: string): void {
  const file = fileInTheWay(directory);
  if (file === undefined) return;
  const where = file === directory ? `${directory} is a file` : `${file} is a file, so ${directory} cannot be a directory`;
  throw new PgzError("PGZ_INVALID_ARGUMENT", `${where}: a database is a directory`);
}

/** Without --create, a directory holding other files but no database is not made into one. */
function checkCreateTarget(directory: string, values: Values): void {
  if (values.create || !existsSync(directory)) return;
  const names = readdirSync(directory);
  if (names.length > 0 && !names.includes(FILE_SUPERBLOCK)) {
    throw new PgzError("PGZ_NOT_FOUND", `${directory} holds ${names.length} other files and no database; --create makes one there`);
  }
}

/** Read commands open read-only (`readOnly`): they work beside a live writer and write nothing. */
function openDatabase(directory: string, values: Values, create: boolean, readOnly = false): DB {
  const options: OpenOptions = readOnly ? { core: coreOf(values), readOnly } : { core: coreOf(values), createIfMissing: create };
  if (values.sync) options.sync = true;
  checkNoFileInTheWay(directory);
  if (create) checkCreateTarget(directory, values);
  // DB.open would create the directory before finding no database in it; a read should not.
  else if (!existsSync(directory)) throw new PgzError("PGZ_NOT_FOUND", `no database in ${directory}`);
  return DB.open(directory, options);
}

async function withDatabase(directory: string, values: Values, create: boolean, work: (db: DB) => Promise<number> | number, readOnly = false): Promise<number> {
  const db = openDatabase(directory, values, create, readOnly);
  try {
    return await work(db);
  } finally {
    db.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Commands

interface ScanPlan {
  options: IterateOptions;
  format: Format;
  keysOnly: boolean;
}

/** Every scan argument, checked before the database is opened. */
function scanPlan(values: Values): ScanPlan {
  const options: IterateOptions = { reverse: values.reverse === true };
  for (const bound of ["gt", "gte", "lt", "lte", "prefix"] as const) {
    const raw = values[bound];
    if (typeof raw === "string") options[bound] = argumentBytes(raw, values, `--${bound}`);
  }
  if (values.limit !== undefined) options.limit = integerOf(values, "limit", 0, 0);
  return { options, format: formatOf(values), keysOnly: values["keys-only"] === true };
}

async function scan(db: DB, plan: ScanPlan, writer: LineWriter): Promise<void> {
  for (const [key, value] of db.iterate(plan.options)) await writer.line(formatEntry(plan.format, key, plan.keysOnly ? undefined : value));
  await writer.flush();
}

/** Decodes one import line: {"key"|"keyHex", "value"|"valueHex"}. */
function parseImportLine(line: string, lineNumber: number): { key: Uint8Array | string; value: Uint8Array | string } {
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

const IMPORT_BATCH_ENTRIES = 1000;

async function importLines(db: DB, source: string): Promise<number> {
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

async function exportLines(db: DB, target: string | undefined): Promise<number> {
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
function compactionRow(stats: object): string[][] {
  const compaction = (stats as { compaction?: { done?: number; bytesRead?: number; bytesWritten?: number; pending?: boolean; stallMilliseconds?: number } }).compaction;
  if (!compaction) return [];
  const text = `${compaction.done ?? 0} done, ${humanBytes(compaction.bytesRead ?? 0)} read, ${humanBytes(compaction.bytesWritten ?? 0)} written, ${compaction.pending ? "pending" : "none pending"}, writes stalled ${compaction.stallMilliseconds ?? 0} ms`;
  return [["compaction", text]];
}

function printStats(db: DB, json: boolean): number {
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

async function check(directory: string, values: Values): Promise<number> {
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
async function bench(values: Values): Promise<number> {
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
async function timed(label: string, count: number, operation: (index: number) => void): Promise<number> {
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
function maintenance(name: "compact" | "gc"): Command {
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

function gcOptionsOf(values: Values): { discardRatio?: number; segmentsMax?: number } {
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
function gcReportText(report: ReturnType<DB["gc"]>, milliseconds: number): string {
  const collected = report.segmentsCollected.length;
  const rate = milliseconds > 0 ? humanBytes((report.bytesRewritten * 1000) / milliseconds) : humanBytes(0);
  return (
    `gc: collected ${collected} segment${collected === 1 ? "" : "s"}, rewrote ${report.recordsRewritten} live records ` +
    `(${humanBytes(report.bytesRewritten)}) in ${secondsText(milliseconds)}, ${rate}/s`
  );
}

const COMMANDS: Record<string, Command> = {
  put: {
    usage: "put <dir> <key> <value>",
    summary: "store a value (creates the database if needed)",
    options: { ...CREATE_OPTIONS, hex: { type: "boolean" } },
    optionHelp: [HEX_OPTION_HELP, ...CREATE_OPTION_HELP],
    positionals: { min: 3, max: 3 },
    run([directory, key, value], values) {
      const keyBytes = argumentBytes(key!, values, "key");
      const valueBytes = argumentBytes(value!, values, "value");
      return withDatabase(directory!, values, true, (db) => {
        db.put(keyBytes, valueBytes);
        return 0;
      });
    },
  },
  get: {
    usage: "get <dir> <key>",
    summary: "print a value (exit 1 if the key is missing)",
    options: { ...READ_OPTIONS, hex: { type: "boolean" }, format: { type: "string" } },
    optionHelp: [HEX_OPTION_HELP, FORMAT_OPTION_HELP, ...READ_OPTION_HELP],
    positionals: { min: 2, max: 2 },
    run([directory, key], values) {
      const format = formatOf(values);
      const keyBytes = argumentBytes(key!, values, "key");
      return withDatabase(directory!, values, false, (db) => {
        const value = db.get(keyBytes);
        if (value === undefined) throw new CommandError("PGZ_NOT_FOUND", `no value for key ${JSON.stringify(key)}`);
        const line = formatEntry(format, typeof keyBytes === "string" ? new TextEncoder().encode(keyBytes) : keyBytes, value);
        // text and hex print only the value; json prints the whole entry.
        console.log(format === "json" ? line : line.slice(line.indexOf("\t") + 1));
        return 0;
      }, true);
    },
  },
  del: {
    usage: "del <dir> <key>",
    summary: "delete a key",
    options: { ...OPEN_OPTIONS, hex: { type: "boolean" } },
    optionHelp: [HEX_OPTION_HELP, ...OPEN_OPTION_HELP],
    positionals: { min: 2, max: 2 },
    run([directory, key], values) {
      const keyBytes = argumentBytes(key!, values, "key");
      return withDatabase(directory!, values, false, (db) => {
        db.delete(keyBytes);
        return 0;
      });
    },
  },
  scan: {
    usage: "scan <dir>",
    summary: "print entries in key order, one per line",
    options: {
      ...READ_OPTIONS,
      gt: { type: "string" },
      gte: { type: "string" },
      lt: { type: "string" },
      lte: { type: "string" },
      prefix: { type: "string" },
      reverse: { type: "boolean" },
      limit: { type: "string" },
      "keys-only": { type: "boolean" },
      format: { type: "string" },
      hex: { type: "boolean" },
    },
    optionHelp: [
      "--gt K, --gte K, --lt K, --lte K   bounds",
      "--prefix P       only keys starting with P",
      "--reverse        descending key order",
      "--limit N        at most N entries",
      "--keys-only      print keys only",
      FORMAT_OPTION_HELP + "; json is one {\"key\",\"value\"} object a line (keyHex/valueHex when not UTF-8)",
      HEX_OPTION_HELP,
      ...READ_OPTION_HELP,
    ],
    positionals: { min: 1, max: 1 },
    run([directory], values) {
      const plan = scanPlan(values);
      return withDatabase(directory!, values, false, async (db) => {
        await scan(db, plan, new LineWriter(process.stdout));
        return 0;
      }, true);
    },
  },
  import: {
    usage: "import <dir> <file|->",
    summary: "load JSON lines ({\"key\",\"value\"} or keyHex/valueHex) in batches of 1000",
    details: "Reads the file (or standard input for -) line by line. Each batch of 1000 entries is atomic; a bad line stops the import after the batches before it.",
    options: CREATE_OPTIONS,
    optionHelp: CREATE_OPTION_HELP,
    positionals: { min: 2, max: 2 },
    run([directory, source], values) {
      if (source !== "-" && !existsSync(source!)) throw new PgzError("PGZ_NOT_FOUND", `no file ${source}`);
      return withDatabase(directory!, values, true, (db) => importLines(db, source!));
    },
  },
  export: {
    usage: "export <dir> [file|-]",
    summary: "write every entry as JSON lines (standard output by default)",
    details: "Streams with backpressure from a consistent snapshot; import reads the same format.",
    options: READ_OPTIONS,
    optionHelp: READ_OPTION_HELP,
    positionals: { min: 1, max: 2 },
    run: ([directory, target], values) => withDatabase(directory!, values, false, (db) => exportLines(db, target), true),
  },
  stats: {
    usage: "stats <dir>",
    summary: "levels, memtable, log, block cache and bytes written",
    options: { ...READ_OPTIONS, json: { type: "boolean" } },
    optionHelp: ["--json           the raw db.stats() object", ...READ_OPTION_HELP],
    positionals: { min: 1, max: 1 },
    run: ([directory], values) => withDatabase(directory!, values, false, (db) => printStats(db, values.json === true), true),
  },
  check: {
    usage: "check <dir>",
    summary: "verify every checksum; print problems as `file offset message` (exit 1 if any)",
    options: READ_OPTIONS,
    optionHelp: READ_OPTION_HELP,
    positionals: { min: 1, max: 1 },
    run: ([directory], values) => check(directory!, values),
  },
  backup: {
    usage: "backup <dir> <target>",
    summary: "copy the database, as of one sequence, into target (an empty directory or an earlier backup)",
    details: "Works beside a live writer. Unchanged files of an earlier backup in target are kept; tables and sealed log segments are hard-linked where the file system allows.",
    options: { ...READ_OPTIONS, json: { type: "boolean" } },
    optionHelp: [...READ_OPTION_HELP, "--json           the raw db.backup() report"],
    positionals: { min: 2, max: 2 },
    run: ([directory, target], values) =>
      withDatabase(directory!, values, false, (db) => {
        const report = db.backup(target!);
        const copied = `${report.filesLinked} linked, ${report.filesCopied} copied (${humanBytes(report.bytesCopied)}), ${report.filesSkipped} unchanged`;
        console.log(values.json ? JSON.stringify(report) : `backup: ${target} as of sequence ${report.sequence}: ${copied}`);
        return 0;
      }, true),
  },
  dump: {
    usage: "dump <file>",
    summary: "decode one pgz file: SUPERBLOCK, MANIFEST-*, *.sst or *.vlog",
    details: "Damage is printed as `PGZ_CORRUPTION file offset message` lines after what decoded (exit 1).",
    options: { core: { type: "string" }, entries: { type: "boolean" } },
    optionHelp: ["--entries        list every table entry and log record", '--core wasm|ts   the core that verifies checksums (default "wasm")'],
    positionals: { min: 1, max: 1 },
    async run([path], values) {
      const result = dumpFile(path!, { core: coreOf(values), entries: values.entries === true, write: (line) => console.log(line) });
      return result.ok ? 0 : 1;
    },
  },
  bench: {
    usage: "bench",
    summary: "a small db_bench: fillrandom then readrandom on a temporary directory",
    options: { ...OPEN_OPTIONS, keys: { type: "string" }, "value-bytes": { type: "string" } },
    optionHelp: ["--keys N         number of keys (default 100000)", "--value-bytes N  value size (default 100)", ...OPEN_OPTION_HELP],
    positionals: { min: 0, max: 0 },
    run: (_, values) => bench(values),
  },
  compact: maintenance("compact"),
  gc: maintenance("gc"),
};

// ---------------------------------------------------------------------------------------------
// Help and dispatch

function topHelp(): string {
  const width = Math.max(...Object.values(COMMANDS).map((command) => command.usage.length));
  return [
    "usage: pgz <command> [options]",
    "",
    "Commands:",
    ...Object.values(COMMANDS).map((command) => `  ${command.usage.padEnd(width)}  ${command.summary}`),
    "",
    "Every command takes --help; pgz --version prints the version. Commands that open a database take",
    "--core wasm|ts (default wasm); those that write also take --sync.",
    "Errors print one line, `pgz: <code>: <message>`; exit 1 on failure, 2 on a usage mistake.",
  ].join("\n");
}

function commandHelp(command: Command): string {
  return [
    `usage: pgz ${command.usage} [options]`,
    "",
    command.summary.charAt(0).toUpperCase() + command.summary.slice(1) + ".",
    ...(command.details ? [command.details] : []),
    "",
    "Options:",
    ...command.optionHelp.map((line) => `  ${line}`),
    "  --help           this help",
  ].join("\n");
}

/**
 * The version in pgz's package.json: one folder up from dist/cli.mjs (in a clone and in an
 * installed package alike), two from ts/tools/cli.ts when run from source.
 */
function packageVersion(): string {
  for (const path of ["../package.json", "../../package.json"]) {
    const url = new URL(path, import.meta.url);
    if (!existsSync(url)) continue;
    const manifest = JSON.parse(readFileSync(url, "utf8")) as { name?: string; version?: string };
    if (manifest.name === "pgz" && typeof manifest.version === "string") return manifest.version;
  }
  throw new PgzError("PGZ_NOT_FOUND", "pgz's package.json is not beside this program");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) throw new UsageError("missing command (see pgz --help)");
  if (name === "--version" || name === "-v") {
    console.log(packageVersion());
    return 0;
  }
  if (name === "--help" || name === "-h" || name === "help") {
    const topic = name === "help" ? rest[0] : undefined;
    console.log(topic && COMMANDS[topic] ? commandHelp(COMMANDS[topic]) : topHelp());
    return 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) throw new UsageError(`unknown command ${JSON.stringify(name)} (see pgz --help)`);
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { ...command.options, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(`${(error as Error).message.split("\n")[0]} (see pgz ${name} --help)`);
  }
  if (parsed.values.help) {
    console.log(commandHelp(command));
    return 0;
  }
  const { min, max } = command.positionals;
  if (parsed.positionals.length < min) throw new UsageError(`missing argument: pgz ${command.usage} (see pgz ${name} --help)`);
  if (parsed.positionals.length > max) throw new UsageError(`too many arguments: pgz ${command.usage} (see pgz ${name} --help)`);
  return command.run(parsed.positionals, parsed.values as Values);
}

function reportError(error: unknown): number {
  if (error instanceof UsageError) {
    console.error(`pgz: ${error.code}: ${error.message}`);
    return error.exitCode;
  }
  if (error instanceof PgzError || error instanceof CommandError) {
    // One line: the message already names the file and offset where that matters.
    console.error(`pgz: ${error.code}: ${error.message.split("\n")[0]}`);
    return 1;
  }
  console.error("pgz: unexpected error (a bug; please report it):");
  console.error(error instanceof Error ? error.stack : String(error));
  return 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.exitCode = reportError(error);
  },
);
