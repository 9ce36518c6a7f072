/**
 * The `pgz` command's arguments: the errors a command line can cause, option tables and their
 * help lines, argument decoding, and opening the database a command works on.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname } from "node:path";
import type { ParseArgsConfig } from "node:util";
import { fromHex } from "../bytes.ts";
import type { CoreName } from "../core/types.ts";
import { DB, type OpenOptions } from "../api/db.ts";
import type { Format } from "./cli-output.ts";
import { PgzError } from "../errors.ts";
import { FILE_SUPERBLOCK } from "../format.ts";

/** A mistake in the command line: one line and exit code 2, never a stack. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly code = "PGZ_USAGE",
    readonly exitCode = 2,
  ) {
    super(message);
  }
}

/** An expected failure that is not a PgzError (a missing key): one line, exit code 1. */
export class CommandError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export type Values = Record<string, string | boolean | undefined>;
export type Options = NonNullable<ParseArgsConfig["options"]>;

export interface Command {
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
export const READ_OPTIONS: Options = { core: { type: "string" } };
export const READ_OPTION_HELP = ['--core wasm|ts   which core runs the hot paths (default "wasm")'];
export const OPEN_OPTIONS: Options = { ...READ_OPTIONS, sync: { type: "boolean" } };
export const OPEN_OPTION_HELP = [...READ_OPTION_HELP, "--sync           fdatasync every write before it returns"];
/** put and import make a database; --create lets them make one in a directory holding other files. */
export const CREATE_OPTIONS: Options = { ...OPEN_OPTIONS, create: { type: "boolean" } };
export const CREATE_OPTION_HELP = ["--create         make a database even in a directory that holds other files", ...OPEN_OPTION_HELP];
export const HEX_OPTION_HELP = "--hex            keys, values and bounds on the command line are hex";
export const FORMAT_OPTION_HELP = "--format F       text (default: UTF-8, or 0x-hex when not printable), hex, or json";

// ---------------------------------------------------------------------------------------------
// Arguments

export function coreOf(values: Values): CoreName {
  const core = values.core ?? "wasm";
  if (core !== "wasm" && core !== "ts") throw new UsageError(`--core must be "wasm" or "ts", got ${JSON.stringify(core)}`);
  return core;
}

export function integerOf(values: Values, name: string, fallback: number, minimum: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (typeof raw !== "string" || !/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < minimum) {
    throw new UsageError(`--${name} must be an integer >= ${minimum}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** A key, value or bound from the command line: UTF-8, or hex with --hex. */
export function argumentBytes(text: string, values: Values, what: string): Uint8Array | string {
  if (!values.hex) return text;
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(text)) throw new UsageError(`${what} is not hex: ${JSON.stringify(text)}`);
  return fromHex(text);
}

export function formatOf(values: Values): Format {
  const format = values.format ?? "text";
  if (format !== "text" && format !== "hex" && format !== "json") throw new UsageError(`--format must be text, hex or json, got ${JSON.stringify(format)}`);
  return format;
}

// ---------------------------------------------------------------------------------------------
// Opening

/** The path itself, or the nearest of its parents that exists, if that is not a directory. */
export function fileInTheWay(directory: string): string | undefined {
  let path = directory;
  while (!existsSync(path)) {
    if (dirname(path) === path) return undefined;
    path = dirname(path);
  }
  return statSync(path).isDirectory() ? undefined : path;
}

/** A database is a directory: a path that is (or lies under) a file is refused by name. */
export function checkNoFileInTheWay(directory: string): void {
  const file = fileInTheWay(directory);
  if (file === undefined) return;
  const where = file === directory ? `${directory} is a file` : `${file} is a file, so ${directory} cannot be a directory`;
  throw new PgzError("PGZ_INVALID_ARGUMENT", `${where}: a database is a directory`);
}

/** Without --create, a directory holding other files but no database is not made into one. */
export function checkCreateTarget(directory: string, values: Values): void {
  if (values.create || !existsSync(directory)) return;
  const names = readdirSync(directory);
  if (names.length > 0 && !names.includes(FILE_SUPERBLOCK)) {
    throw new PgzError("PGZ_NOT_FOUND", `${directory} holds ${names.length} other files and no database; --create makes one there`);
  }
}

/** Read commands open read-only (`readOnly`): they work beside a live writer and write nothing. */
export function openDatabase(directory: string, values: Values, create: boolean, readOnly = false): DB {
  const options: OpenOptions = readOnly ? { core: coreOf(values), readOnly } : { core: coreOf(values), createIfMissing: create };
  if (values.sync) options.sync = true;
  checkNoFileInTheWay(directory);
  if (create) checkCreateTarget(directory, values);
  // DB.open would create the directory before finding no database in it; a read should not.
  else if (!existsSync(directory)) throw new PgzError("PGZ_NOT_FOUND", `no database in ${directory}`);
  return DB.open(directory, options);
}

export async function withDatabase(directory: string, values: Values, create: boolean, work: (db: DB) => Promise<number> | number, readOnly = false): Promise<number> {
  const db = openDatabase(directory, values, create, readOnly);
  try {
    return await work(db);
  } finally {
    db.close();
  }
}
