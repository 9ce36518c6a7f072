/**
 * The `pgz` command, driven through the built bundle (dist/cli.mjs, as users run it) with node
 * on real temporary databases: every command, its --help, and its one-line errors.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DB } from "../ts/index.ts";
import { removeDirectory, temporaryDirectory } from "./helpers.ts";

const cli = fileURLToPath(new URL("../dist/cli.mjs", import.meta.url));
const workspace = temporaryDirectory("pgz-cli");

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function pgz(args: string[], input?: string): Run {
  const child = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", input, timeout: 120_000, maxBuffer: 1 << 26 });
  return { status: child.status, stdout: child.stdout, stderr: child.stderr };
}

/** A run that must succeed; its stdout lines. */
function ok(args: string[], input?: string): string[] {
  const run = pgz(args, input);
  assert.is(run.status, 0, `pgz ${args.join(" ")} failed: ${run.stderr}`);
  return run.stdout.split("\n").filter((line) => line !== "");
}

/** A run that must fail with exactly one `pgz: CODE: ...` line on stderr and no stack. */
function fails(args: string[], status: number, code: string): string {
  const run = pgz(args);
  assert.is(run.status, status, `pgz ${args.join(" ")}: expected exit ${status}, got ${run.status}; stderr ${run.stderr}`);
  const lines = run.stderr.split("\n").filter((line) => line !== "");
  assert.is(lines.length, 1, `one error line expected, got: ${run.stderr}`);
  assert.ok(lines[0]!.startsWith(`pgz: ${code}: `), `expected a ${code} line, got: ${lines[0]}`);
  assert.not.match(run.stderr, /\n\s+at /, "no stack trace");
  return lines[0]!;
}

let counter = 0;
const freshDirectory = () => join(workspace, `db-${counter++}`);

test("the CLI bundle is built", () => {
  assert.ok(existsSync(cli), "dist/cli.mjs is missing: run npm run build (npm install does it)");
});

test("--help on the top level and on every command", () => {
  const top = ok(["--help"]).join("\n");
  const commands = ["put", "get", "del", "scan", "import", "export", "stats", "check", "dump", "bench", "compact", "gc"];
  for (const command of commands) {
    assert.match(top, new RegExp(`^  ${command}\\b`, "m"), `top help lists ${command}`);
    const help = ok([command, "--help"]).join("\n");
    assert.match(help, new RegExp(`^usage: pgz ${command}\\b`), `${command} --help`);
    assert.match(help, /--help/);
  }
  assert.not.match(top, /not available/);
});

test("--version prints the package version", () => {
  const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
  assert.equal(ok(["--version"]), [version]);
  assert.equal(ok(["-v"]), [version]);
});

test("read commands take no --sync (they write nothing); write commands do", () => {
  const directory = seeded();
  for (const args of [["get", directory, "k01"], ["scan", directory], ["export", directory], ["stats", directory], ["check", directory]]) {
    assert.match(fails([...args, "--sync"], 2, "PGZ_USAGE"), /--sync/, args[0]);
    assert.not.match(ok([args[0]!, "--help"]).join("\n"), /--sync/, `${args[0]} --help lists no --sync`);
  }
  for (const command of ["put", "del", "import", "compact", "gc", "bench"]) assert.match(ok([command, "--help"]).join("\n"), /--sync/, command);
  ok(["del", directory, "k01", "--sync"]);
  fails(["get", directory, "k01"], 1, "PGZ_NOT_FOUND");
});

test("usage mistakes: one line and exit 2", () => {
  fails([], 2, "PGZ_USAGE");
  assert.match(fails(["frobnicate"], 2, "PGZ_USAGE"), /unknown command "frobnicate"/);
  assert.match(fails(["get", freshDirectory()], 2, "PGZ_USAGE"), /missing argument/);
  assert.match(fails(["put", freshDirectory(), "a", "b", "c"], 2, "PGZ_USAGE"), /too many arguments/);
  fails(["scan", freshDirectory(), "--bogus"], 2, "PGZ_USAGE");
  fails(["scan", freshDirectory(), "--limit", "ten"], 2, "PGZ_USAGE");
  fails(["put", freshDirectory(), "a", "b", "--core", "gpu"], 2, "PGZ_USAGE");
  fails(["put", freshDirectory(), "zz", "b", "--hex"], 2, "PGZ_USAGE");
});

test("put, get, del on both cores", () => {
  for (const core of ["wasm", "ts"]) {
    const directory = freshDirectory();
    assert.equal(ok(["put", directory, "greeting", "hello world", "--core", core]), []);
    assert.equal(ok(["get", directory, "greeting", "--core", core]), ["hello world"]);
    assert.equal(ok(["get", directory, "greeting", "--format", "hex"]), ["68656c6c6f20776f726c64"]);
    assert.equal(ok(["get", directory, "greeting", "--format", "json"]), ['{"key":"greeting","value":"hello world"}']);
    ok(["put", directory, "00ff", "80", "--hex", "--sync"]);
    assert.equal(ok(["get", directory, "00ff", "--hex"]), ["0x80"]);
    ok(["del", directory, "greeting", "--core", core]);
    assert.match(fails(["get", directory, "greeting"], 1, "PGZ_NOT_FOUND"), /no value for key "greeting"/);
  }
});

test("reading a missing database fails without creating it", () => {
  const directory = freshDirectory();
  fails(["get", directory, "a"], 1, "PGZ_NOT_FOUND");
  fails(["scan", directory], 1, "PGZ_NOT_FOUND");
  assert.not.ok(existsSync(directory), "a read must not create the directory");
});

/** A database with k00..k19 (values v0..v19) and one binary entry. */
function seeded(): string {
  const directory = freshDirectory();
  const lines = Array.from({ length: 20 }, (_, i) => JSON.stringify({ key: `k${String(i).padStart(2, "0")}`, value: `v${i}` }));
  lines.push(JSON.stringify({ keyHex: "ff00", valueHex: "c3" }));
  const file = join(workspace, `seed-${counter++}.jsonl`);
  writeFileSync(file, lines.join("\n") + "\n");
  ok(["import", directory, file]);
  return directory;
}

test("scan: formats, bounds, prefix, reverse, limit, keys-only", () => {
  const directory = seeded();
  const all = ok(["scan", directory]);
  assert.is(all.length, 21);
  assert.is(all[0], "k00\tv0");
  assert.is(all[20], "0xff00\t0xc3", "bytes that are not UTF-8 print as hex in text mode");
  assert.equal(ok(["scan", directory, "--format", "hex", "--limit", "1"]), ["6b3030\t7630"]);
  const json = ok(["scan", directory, "--format", "json"]).map((line) => JSON.parse(line));
  assert.equal(json[0], { key: "k00", value: "v0" });
  assert.equal(json[20], { keyHex: "ff00", valueHex: "c3" });
  assert.equal(ok(["scan", directory, "--gte", "k05", "--lt", "k08", "--keys-only"]), ["k05", "k06", "k07"]);
  assert.equal(ok(["scan", directory, "--gt", "k05", "--lte", "k07", "--keys-only"]), ["k06", "k07"]);
  assert.equal(ok(["scan", directory, "--prefix", "k1", "--reverse", "--limit", "3", "--keys-only"]), ["k19", "k18", "k17"]);
  assert.equal(ok(["scan", directory, "--gte", "ff", "--hex", "--format", "json", "--keys-only"]), ['{"keyHex":"ff00"}']);
  assert.equal(ok(["scan", directory, "--limit", "0"]), []);
});

test("import then export round trip, through files and standard input/output", () => {
  const entries: Record<string, string>[] = [];
  for (let i = 0; i < 2500; i++) entries.push({ key: `key-${String(i).padStart(5, "0")}`, value: `value ${i} ✓`.repeat(1 + (i % 7)) });
  entries.push({ key: "\ufeffbom", value: "\ufeffkept" });
  entries.push({ keyHex: "fffe00", valueHex: "80ff" });
  entries.push({ key: "big", value: "x".repeat(5000) });
  const source = join(workspace, "source.jsonl");
  writeFileSync(source, entries.map((entry) => JSON.stringify(entry)).join("\n") + "\n");
  const expected = [...entries].sort((a, b) => Buffer.compare(keyBytes(a), keyBytes(b))).map((entry) => JSON.stringify(entry));

  const fromFile = freshDirectory();
  const imported = pgz(["import", fromFile, source]);
  assert.is(imported.status, 0, imported.stderr);
  assert.match(imported.stderr, /imported 2503 entries/);
  const target = join(workspace, "export.jsonl");
  ok(["export", fromFile, target]);
  const exported = readFileSync(target, "utf8").split("\n").filter((line) => line !== "");
  assert.equal(exported, expected);
  assert.equal(ok(["export", fromFile, "-"]), expected, "export to standard output");
  assert.equal(ok(["export", fromFile]), expected, "standard output is the default");

  const fromStdin = freshDirectory();
  ok(["import", fromStdin, "-"], readFileSync(target, "utf8"));
  assert.equal(ok(["export", fromStdin]), expected, "import from standard input");
});

function keyBytes(entry: Record<string, string>): Buffer {
  return entry.keyHex === undefined ? Buffer.from(entry.key!, "utf8") : Buffer.from(entry.keyHex, "hex");
}

test("import: a bad line is one error line naming it", () => {
  const file = join(workspace, "bad.jsonl");
  writeFileSync(file, '{"key":"a","value":"1"}\n{"key":"b"}\n');
  assert.match(fails(["import", freshDirectory(), file], 1, "PGZ_INVALID_ARGUMENT"), /line 2/);
  fails(["import", freshDirectory(), join(workspace, "no-such-file.jsonl")], 1, "PGZ_NOT_FOUND");
});

test("stats prints levels, memtable, log, block cache and bytes written", () => {
  const text = ok(["stats", seeded()]).join("\n");
  for (const label of ["level", "L0", "memtable", "log", "block cache", "bytes written"]) assert.match(text, new RegExp(`^${label}\\b`, "m"), label);
  const json = JSON.parse(ok(["stats", seeded(), "--json"]).join("\n"));
  assert.is(json.levels.length > 0, true);
});

/** A database whose entries are all in tables (close flushes), and the name of one table. */
function flushedDatabase(): { directory: string; table: string } {
  const directory = freshDirectory();
  const db = DB.open(directory, { core: "ts" });
  // Held from before the writes, a snapshot keeps their sequences in the table for the dumps to
  // show (a flush into an empty tree stores sequence 0 for what every reader sees).
  const snapshot = db.snapshot();
  for (let i = 0; i < 500; i++) db.put(`key-${String(i).padStart(4, "0")}`, `value-${i}`);
  db.flush();
  snapshot.release();
  db.close();
  const table = readdirSync(directory).find((name) => name.endsWith(".sst"));
  assert.ok(table, "a table was written");
  return { directory, table };
}

test("check: exit 0 on a clean database, exit 1 naming file and offset on a damaged block", () => {
  const { directory, table } = flushedDatabase();
  const clean = pgz(["check", directory]);
  assert.is(clean.status, 0, clean.stderr);
  assert.is(clean.stdout, "");
  assert.match(clean.stderr, /check: ok/);
  // The first data block starts at offset 0 of the table: flip bytes inside it.
  const path = join(directory, table);
  const bytes = readFileSync(path);
  for (const offset of [40, 41, 42]) bytes[offset] = bytes[offset]! ^ 0x5a;
  writeFileSync(path, bytes);
  const damaged = pgz(["check", directory]);
  assert.is(damaged.status, 1, damaged.stderr);
  assert.match(damaged.stdout, new RegExp(`^${table.replace(".", "\\.")} 0 \\S`, "m"), `file and offset: ${damaged.stdout}`);
  assert.not.match(damaged.stderr, /\n\s+at /);
});

test("check and dump: a table copied under another table's number is named, exit 1, no stack", () => {
  const { directory, table } = flushedDatabase();
  const db = DB.open(directory, { core: "ts" });
  db.put("later", "value");
  db.flush();
  db.close();
  const other = readdirSync(directory).find((name) => name.endsWith(".sst") && name !== table)!;
  writeFileSync(join(directory, other), readFileSync(join(directory, table)));
  const checked = pgz(["check", directory]);
  assert.is(checked.status, 1, checked.stderr);
  assert.match(checked.stdout, new RegExp(`^${other.replace(".", "\\.")} \\d+ table is not the one the manifest names`, "m"), checked.stdout);
  assert.not.match(checked.stderr, /\n\s+at /);
  const dumped = pgz(["dump", join(directory, other)]);
  assert.is(dumped.status, 1, dumped.stderr);
  assert.match(dumped.stdout, new RegExp(`^PGZ_CORRUPTION ${other.replace(".", "\\.")} \\d+ the footer names table ${Number(table.slice(0, 6))}`, "m"), dumped.stdout);
});

test("dump: superblock, manifest, table, segment, lock", () => {
  const { directory, table } = flushedDatabase();
  const db = DB.open(directory, { core: "ts" });
  db.put("in-the-log", "yes");
  const lock = ok(["dump", join(directory, "LOCK")]).join("\n");
  assert.match(lock, new RegExp(`held by process ${process.pid}`));
  // Dumped while open: close leaves a segment whose records are all in tables behind and deletes it.
  const segments = readdirSync(directory).filter((name) => name.endsWith(".vlog"));
  const segmentDumps = segments.map((name) => ok(["dump", join(directory, name), "--entries"]).join("\n"));
  db.close();
  const names = readdirSync(directory);
  const superblock = ok(["dump", join(directory, "SUPERBLOCK")]).join("\n");
  assert.match(superblock, /^copy 0 @0: format 5, sequence \d+, manifest MANIFEST-\d{6}, database [0-9a-f]{32}$/m);
  assert.match(superblock, /^current: copy \d \(sequence \d+\)/m);
  const manifest = ok(["dump", join(directory, names.find((name) => name.startsWith("MANIFEST-"))!)]).join("\n");
  assert.match(manifest, /^edit 0 @0: snapshot \(format 5\)/m);
  assert.match(manifest, new RegExp(`\\+L0 ${table.replace(".", "\\.")} \\(500 entries`));
  const tableDump = ok(["dump", join(directory, table), "--entries"]).join("\n");
  assert.match(tableDump, /^footer @\d+: format 5, database [0-9a-f]{32}, table \d+, 500 entries, \d+ data blocks/m);
  assert.match(tableDump, /^block 0 @0 \(\d+ B, lz4 of \d+ B\): \d+ entries, first "key-0000"@1/m);
  assert.match(tableDump, /^ {2}"key-0499" @500 value "value-499"$/m);
  assert.match(tableDump, /^entries: 500 \(value 500\), sequences 1\.\.500$/m);
  for (const dump of segmentDumps) assert.match(dump, /^header: format 5, segment \d+, database [0-9a-f]{32}$/m);
  assert.ok(segmentDumps.some((dump) => /put seq 501 key "in-the-log" value 3 B batch-end/.test(dump)), "the log record is listed");
  const databaseId = /database ([0-9a-f]{32})/.exec(superblock)![1]!;
  for (const dump of [tableDump, ...segmentDumps]) assert.ok(dump.includes(`database ${databaseId}`), "every file names the superblock's database id");
  // Detected by magic when the name says nothing.
  const copy = join(workspace, "renamed.bin");
  writeFileSync(copy, readFileSync(join(directory, table)));
  assert.match(ok(["dump", copy]).join("\n"), /^renamed\.bin: table/);
});

test("dump: garbage and damage are one PGZ_CORRUPTION line, exit 1, no stack", () => {
  const garbage = join(workspace, "garbage.bin");
  writeFileSync(garbage, Buffer.from("this is not a pgz file at all\n".repeat(300)));
  assert.match(fails(["dump", garbage], 1, "PGZ_CORRUPTION"), /not a pgz file/);
  for (const name of ["SUPERBLOCK", "MANIFEST-000001", "000001.sst", "000001.vlog"]) {
    // The name alone decides the kind; the decoder then rejects the bytes.
    const directory = join(workspace, `garbage-${counter++}`);
    mkdirSync(directory);
    writeFileSync(join(directory, name), Buffer.alloc(8192, 0x41));
    fails(["dump", join(directory, name)], 1, "PGZ_CORRUPTION");
  }
  fails(["dump", join(workspace, "no-such-file")], 1, "PGZ_IO");
  const { directory, table } = flushedDatabase();
  const path = join(directory, table);
  const bytes = readFileSync(path);
  bytes[40] = bytes[40]! ^ 0xff;
  writeFileSync(path, bytes);
  const damaged = pgz(["dump", path]);
  assert.is(damaged.status, 1);
  assert.match(damaged.stdout, new RegExp(`^PGZ_CORRUPTION ${table.replace(".", "\\.")} 0 block 0: `, "m"));
  assert.match(damaged.stdout, /^block 1 @\d+/m, "the blocks after the damaged one are still listed");
});

test("dump: a damaged log record ends the walk with a PGZ_CORRUPTION line at its offset", () => {
  const directory = freshDirectory();
  const db = DB.open(directory, { core: "ts" });
  db.put("first", "one");
  db.put("second", "two");
  // Still open: at close the segment's records are all in a table and it is deleted.
  const segment = readdirSync(directory).find((name) => name.endsWith(".vlog") && /key "second"/.test(ok(["dump", join(directory, name), "--entries"]).join("\n")));
  assert.ok(segment, "a segment holds the records");
  const path = join(directory, segment);
  const listing = ok(["dump", path, "--entries"]).join("\n");
  const offset = Number(/@(\d+) put seq \d+ key "second"/.exec(listing)![1]);
  const bytes = readFileSync(path);
  bytes[offset + 30] = bytes[offset + 30]! ^ 0x01; // inside the key: the record's CRC fails
  writeFileSync(path, bytes);
  const damaged = pgz(["dump", path, "--entries"]);
  assert.is(damaged.status, 1, damaged.stderr);
  assert.match(damaged.stdout, /key "first"/, "the records before it are listed");
  assert.not.match(damaged.stdout, /key "second"/);
  assert.match(damaged.stdout, new RegExp(`^PGZ_CORRUPTION ${segment.replace(".", "\\.")} ${offset} `, "m"));
  db.close();
});

test("compact and gc keep every entry", () => {
  for (const name of ["compact", "gc"]) {
    const directory = seeded();
    const run = pgz([name, directory]);
    assert.is(run.status, 0, run.stderr);
    assert.is(ok(["scan", directory]).length, 21, `${name} keeps every entry`);
  }
});

/** A database whose first log segments are mostly garbage: large values overwritten. */
function garbageDatabase(): string {
  const directory = freshDirectory();
  const db = DB.open(directory, { core: "ts", segmentBytes: 64 * 1024, memtableBytes: 64 * 1024, autoGc: false });
  for (let round = 0; round < 4; round++) for (let i = 0; i < 200; i++) db.put(`key-${i}`, `${round}`.repeat(2000));
  db.close();
  return directory;
}

const HUMAN_BYTES = String.raw`(?:\d+ B|\d+\.\d (?:KiB|MiB|GiB))`;

test("gc prints what it collected in human units (--json: the raw report)", () => {
  const line = ok(["gc", garbageDatabase(), "--discard-ratio", "0.5", "--segments-max", "100"]);
  assert.is(line.length, 1, line.join("\n"));
  const match = new RegExp(`^gc: collected (\\d+) segments?, rewrote (\\d+) live records \\((${HUMAN_BYTES})\\) in \\d+\\.\\d\\d s, ${HUMAN_BYTES}/s$`).exec(line[0]!);
  assert.ok(match, line[0]);
  assert.ok(Number(match[1]) > 0, "segments of garbage were collected");
  const report = JSON.parse(ok(["gc", garbageDatabase(), "--segments-max", "100", "--json"])[0]!);
  assert.ok(Array.isArray(report.segmentsCollected) && report.segmentsCollected.length > 0, JSON.stringify(report));
  assert.is(typeof report.bytesRewritten, "number");
});

test("progress bars count bytes in MiB and MiB/s (in a terminal, through script(1))", () => {
  const directory = freshDirectory();
  const file = join(workspace, `big-${counter++}.jsonl`);
  const lines = Array.from({ length: 20_000 }, (_, i) => JSON.stringify({ key: `key-${i}`, value: "v".repeat(100) }));
  writeFileSync(file, lines.join("\n") + "\n");
  const command = [process.execPath, cli, "import", directory, file].map((word) => `'${word}'`).join(" ");
  const terminal = spawnSync("script", ["-qec", command, "/dev/null"], { encoding: "utf8", timeout: 120_000 });
  assert.is(terminal.status, 0, terminal.stdout);
  const screen = terminal.stdout.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b7|\x1b8/g, "");
  const total = `${(statSync(file).size / (1024 * 1024)).toFixed(1)} MiB`;
  assert.match(screen, new RegExp(`import \\[[^\\]]*\\] 100% ${total}/${total} \\| ${HUMAN_BYTES}/s`), screen.slice(-400));
  assert.not.match(screen, /bytes/);
});

test("put and import do not make a database in a directory holding other files, unless --create", () => {
  const directory = freshDirectory();
  mkdirSync(directory);
  writeFileSync(join(directory, "notes.txt"), "mine");
  assert.match(fails(["put", directory, "a", "1"], 1, "PGZ_NOT_FOUND"), /holds 1 other files and no database; --create/);
  const source = join(workspace, `one-${counter++}.jsonl`);
  writeFileSync(source, '{"key":"a","value":"1"}\n');
  fails(["import", directory, source], 1, "PGZ_NOT_FOUND");
  assert.equal(readdirSync(directory), ["notes.txt"], "nothing was written");
  ok(["put", directory, "a", "1", "--create"]);
  assert.equal(ok(["get", directory, "a"]), ["1"]);
  ok(["put", directory, "b", "2"]);
  assert.equal(ok(["scan", directory, "--keys-only"]), ["a", "b"], "once it is a database, no --create is needed");
  const empty = freshDirectory();
  mkdirSync(empty);
  ok(["import", empty, source]);
  assert.equal(ok(["get", empty, "a"]), ["1"], "an empty directory is made a database");
});

test("a path that is a file, or under one, is one clear error for every command", () => {
  const file = join(workspace, `plain-${counter++}.txt`);
  writeFileSync(file, "not a database");
  assert.match(fails(["put", file, "a", "1"], 1, "PGZ_INVALID_ARGUMENT"), /is a file: a database is a directory/);
  assert.match(fails(["put", join(file, "inner"), "a", "1"], 1, "PGZ_INVALID_ARGUMENT"), /plain-\d+\.txt is a file, so .* cannot be a directory/);
  for (const args of [["get", file, "a"], ["scan", file], ["stats", file], ["del", file, "a"], ["gc", file]]) fails(args, 1, "PGZ_INVALID_ARGUMENT");
  assert.is(readFileSync(file, "utf8"), "not a database");
});

test("bench: fillrandom and readrandom on both cores", () => {
  for (const core of ["wasm", "ts"]) {
    const lines = ok(["bench", "--keys", "3000", "--core", core]).join("\n");
    assert.match(lines, /^fillrandom : +[\d,]+ ops\/s/m);
    assert.match(lines, /^readrandom : +[\d,]+ ops\/s {2}\(3000 of 3000 found\)$/m);
  }
});

test.after(() => removeDirectory(workspace));

test.run();
