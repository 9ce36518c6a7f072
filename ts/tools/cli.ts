/**
 * The `pgz` command: put, get, del, scan, import, export, stats, check, dump, bench, compact
 * and gc on a database directory. Arguments are parsed with node:util parseArgs, which Node,
 * Deno and Bun all provide.
 *
 * Errors print one line, `pgz: <code>: <message>`, and exit non-zero: 1 for a failed operation
 * (a PgzError, a missing key, damage found), 2 for a usage mistake. Only an unexpected error (a
 * bug) prints its stack.
 */
import { existsSync, readFileSync } from "node:fs";
import process from "node:process";
import { parseArgs } from "node:util";
import "../storage/node-platform.ts";
import { dumpFile } from "./dump.ts";
import { formatEntry, humanBytes, LineWriter } from "./cli-output.ts";
import { PgzError } from "../errors.ts";
import {
  CREATE_OPTIONS,
  CREATE_OPTION_HELP,
  CommandError,
  FORMAT_OPTION_HELP,
  HEX_OPTION_HELP,
  OPEN_OPTIONS,
  OPEN_OPTION_HELP,
  READ_OPTIONS,
  READ_OPTION_HELP,
  UsageError,
  argumentBytes,
  coreOf,
  formatOf,
  withDatabase,
  type Command,
  type Values,
} from "./cli-arguments.ts";
import { bench, check, exportLines, importLines, maintenance, printStats, scan, scanPlan } from "./cli-commands.ts";

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
