/**
 * Reader registrations (docs/FORMAT.md, "readers/"): a read-only open names the files it reads
 * in `readers/<pid>-<nonce>.json`, one line of JSON,
 *
 *   {"pid":1234,"startTime":"98765","nonce":"<uuid>","files":[7,9,12]}
 *
 * (`files`: the table and log-segment numbers its version reads). The writer asks filesInUse()
 * before it deletes a table or a segment and keeps any file a live registration names until
 * the reader closes or dies. Liveness is lock.ts's proof of death: a registration is dead only
 * when its pid is gone or shows another start time; a live reader is never judged dead.
 *
 * Registrations are written aside and renamed into place, so the writer reads one whole or
 * not at all. Older engines never look in readers/ (and so do not protect readers).
 */
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { PgzError } from "../errors.ts";
import { TEMPORARY_SUFFIX, parseFileName } from "../format.ts";
import type { Storage } from "./io.ts";
import { judge, startTimeOfThisProcess, type LockOwner } from "./lock.ts";

export const READERS_DIRECTORY = "readers";
/** Registration files are at most this large; a larger one is not pgz's and pins nothing. */
const REGISTRATION_BYTES_MAX = 16 * 1024 * 1024;

export interface Registration extends LockOwner {
  files: number[];
}

function ioFailure(operation: string, target: string, error: unknown): PgzError {
  const code = (error as { code?: string }).code ?? "unknown";
  return new PgzError("PGZ_IO", `${operation} ${target} failed: ${code}`, { file: target, cause: error });
}

/** This process's registration in `directory`: pin() names the files, release() removes it. */
export class ReaderRegistration {
  private readonly owner: LockOwner = { pid: process.pid, startTime: startTimeOfThisProcess(), nonce: randomUUID() };
  private readonly folder: string;
  readonly fileName: string;
  private written = false;

  constructor(directory: string) {
    this.folder = path.join(directory, READERS_DIRECTORY);
    this.fileName = `${this.owner.pid}-${this.owner.nonce}.json`;
  }

  /** Replaces the registration with one naming `files` (atomically: aside, then renamed). */
  pin(files: Iterable<number>): void {
    const registration: Registration = { ...this.owner, files: [...new Set(files)].sort((a, b) => a - b) };
    const target = path.join(this.folder, this.fileName);
    const temporary = target + TEMPORARY_SUFFIX;
    try {
      fs.mkdirSync(this.folder, { recursive: true });
      fs.writeFileSync(temporary, JSON.stringify(registration) + "\n");
      fs.renameSync(temporary, target);
    } catch (error) {
      // On a read-only file system no writer can delete anything: nothing needs pinning.
      if ((error as { code?: string }).code === "EROFS") return;
      fs.rmSync(temporary, { force: true });
      throw ioFailure("register reader", target, error);
    }
    this.written = true;
  }

  release(): void {
    if (!this.written) return;
    this.written = false;
    fs.rmSync(path.join(this.folder, this.fileName), { force: true });
  }
}

/** The registration in `bytes`, or undefined if it is not one (torn, foreign). */
export function decodeRegistration(text: string): Registration | undefined {
  try {
    const value = JSON.parse(text) as Partial<Registration>;
    const validOwner = Number.isSafeInteger(value.pid) && (value.pid as number) > 0 && typeof value.startTime === "string" && /^\d*$/.test(value.startTime) && typeof value.nonce === "string";
    const validFiles = Array.isArray(value.files) && value.files.every((file) => Number.isSafeInteger(file) && file > 0);
    return validOwner && validFiles ? (value as Registration) : undefined;
  } catch {
    return undefined;
  }
}

/** The pid a registration's (or its temporary file's) name starts with. */
function pidOfName(name: string): number | undefined {
  const match = /^(\d+)-/.exec(name);
  return match ? Number(match[1]) : undefined;
}

/**
 * The file numbers live readers still read. Registrations of dead readers (and their leftover
 * temporary files) are removed on the way; one that cannot be read is kept and, failing
 * closed, pins every file.
 */
export function filesInUse(directory: string): { files: Set<number>; all: boolean } {
  const folder = path.join(directory, READERS_DIRECTORY);
  const result = { files: new Set<number>(), all: false };
  let names: string[];
  try {
    names = fs.readdirSync(folder);
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") return result;
    throw ioFailure("readdir", folder, error);
  }
  for (const name of names) {
    const full = path.join(folder, name);
    if (name.endsWith(TEMPORARY_SUFFIX)) {
      const pid = pidOfName(name);
      if (pid !== undefined && !judge({ pid, startTime: "", nonce: "" }, name).alive) fs.rmSync(full, { force: true });
      continue;
    }
    const registration = readRegistration(full);
    if (registration === "gone") continue;
    if (registration === undefined) {
      result.all = true;
      continue;
    }
    if (!judge(registration, `${READERS_DIRECTORY}/${name}`).alive) {
      fs.rmSync(full, { force: true });
      continue;
    }
    for (const file of registration.files) result.files.add(file);
  }
  return result;
}

function readRegistration(full: string): Registration | undefined | "gone" {
  try {
    if (fs.statSync(full).size > REGISTRATION_BYTES_MAX) return undefined;
    return decodeRegistration(fs.readFileSync(full, "utf8"));
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") return "gone";
    throw ioFailure("read", full, error);
  }
}

/**
 * `storage` whose remove() keeps tables and log segments a live reader names: such a removal
 * is put off and tried again at each later removal and at retryRemovals() (the writer calls it
 * at close). Every other file is removed at once. One function decides (filesInUse), so GC,
 * compaction, segment retirement and recovery all ask the same question. unlinkWith() hands the
 * unlinks it decides on to someone else (the background worker, ts/lsm/removals.ts).
 */
export type GuardedStorage = Storage & { retryRemovals(): void; pendingRemovals(): string[]; unlinkWith(unlink: Unlink): void };

/** Unlinks a table or segment no reader holds: by `unlinkHere` (the storage's remove), or elsewhere (the background worker). */
export type Unlink = (name: string, unlinkHere: (name: string) => void) => void;

export function guardRemovals(storage: Storage): GuardedStorage {
  const pending = new Set<string>();
  const unlinkHere = (name: string) => storage.remove(name);
  let unlink: Unlink = (name) => unlinkHere(name);
  const removeUnlessInUse = () => {
    if (pending.size === 0) return;
    const inUse = filesInUse(storage.directory);
    for (const name of [...pending]) {
      const fileNumber = parseFileName(name)!.fileNumber;
      if (inUse.all || inUse.files.has(fileNumber)) continue;
      pending.delete(name);
      unlink(name, unlinkHere);
    }
  };
  const remove = (name: string) => {
    const kind = parseFileName(name)?.kind;
    if (kind !== "table" && kind !== "segment") return storage.remove(name);
    pending.add(name);
    removeUnlessInUse();
  };
  const unlinkWith = (next: Unlink) => {
    unlink = next;
  };
  const added: Record<string, unknown> = { remove, retryRemovals: removeUnlessInUse, pendingRemovals: () => [...pending], unlinkWith };
  // Everything else is the storage itself: its methods run on it and its state stays its own.
  return new Proxy(storage, {
    get(target, property) {
      if (typeof property === "string" && property in added) return added[property];
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  }) as GuardedStorage;
}
