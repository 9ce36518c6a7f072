/**
 * One open database per directory, across processes, threads and copies of pgz. node:fs has no
 * flock, so the LOCK file names its owner: one line of JSON (docs/FORMAT.md, "LOCK"),
 *
 *   {"pid":1234,"startTime":"98765","nonce":"<uuid>"}
 *
 * `startTime` is field 22 of /proc/<pid>/stat (Linux; "" where unknown) and tells a reused pid
 * from its first owner; `nonce` is fresh per open, so an open only ever removes its own LOCK.
 *
 * The lock fails closed: an owner is dead only on positive proof (its /proc entry is gone, is a
 * zombie, or shows another start time; elsewhere kill(pid, 0) gives ESRCH). A LOCK naming this
 * process (another DB object, worker thread or bundle copy) is refused. A stale LOCK is replaced
 * under the LOCK.break guard (itself created exclusively and naming its owner), so of several
 * openers racing for it exactly one wins.
 */
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { bytesEqual } from "../bytes.ts";
import { PgzError } from "../errors.ts";
import { FILE_LOCK, FILE_LOCK_BREAK, TEMPORARY_SUFFIX } from "../format.ts";
import type { Storage } from "./io.ts";

export interface LockOwner {
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks after boot), "" where the platform hides it. */
  startTime: string;
  nonce: string;
}

/** How often a file that changes hands under us is tried again before giving up. */
const ATTEMPTS_MAX = 8;

/** Directories open in this thread, shared by every copy of pgz loaded in it (messages only). */
const REGISTRY_KEY = Symbol.for("pgz.locks");

function openInThisThread(): Set<string> {
  const global = globalThis as { [REGISTRY_KEY]?: Set<string> };
  global[REGISTRY_KEY] ??= new Set<string>();
  return global[REGISTRY_KEY];
}

/** The directory's device and inode (the same through any symlink), else its resolved path. */
function directoryIdentity(directory: string): string {
  try {
    const stats = fs.statSync(directory, { bigint: true });
    return `${stats.dev}:${stats.ino}`;
  } catch {
    return path.resolve(directory);
  }
}

function locked(message: string): PgzError {
  return new PgzError("PGZ_LOCKED", message);
}

export function encodeLockOwner(owner: LockOwner): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ pid: owner.pid, startTime: owner.startTime, nonce: owner.nonce }) + "\n");
}

/** The owner a LOCK names, or undefined if it names none (empty, torn, foreign). A bare pid is an older pgz's LOCK. */
export function decodeLockOwner(bytes: Uint8Array): LockOwner | undefined {
  const text = new TextDecoder().decode(bytes).trim();
  if (/^\d+$/.test(text)) return validOwner({ pid: Number(text), startTime: "", nonce: "" });
  try {
    const value = JSON.parse(text) as Partial<LockOwner>;
    if (typeof value.startTime !== "string" || typeof value.nonce !== "string") return undefined;
    return validOwner({ pid: value.pid as number, startTime: value.startTime, nonce: value.nonce });
  } catch {
    return undefined;
  }
}

function validOwner(owner: LockOwner): LockOwner | undefined {
  const valid = Number.isSafeInteger(owner.pid) && owner.pid > 0 && /^\d*$/.test(owner.startTime);
  return valid ? owner : undefined;
}

type ProcessProbe = { state: "gone" } | { state: "running"; startTime: string } | { state: "unknown"; reason: string };

/** Reads /proc/<pid>/stat. Only ENOENT means gone; any other failure is unknown. */
function probeProcFs(pid: number): ProcessProbe {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ENOENT") return { state: "gone" };
    return { state: "unknown", reason: `reading /proc/${pid}/stat failed: ${code ?? (error as Error).name}` };
  }
  // The command name (field 2) is in parentheses and may hold spaces: count from the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const [state, startTime] = [fields[0], fields[19]];
  if (state === "Z" || state === "X") return { state: "gone" }; // exited, never runs again
  if (startTime === undefined || !/^\d+$/.test(startTime)) return { state: "unknown", reason: `/proc/${pid}/stat is unreadable` };
  return { state: "running", startTime };
}

/** This process's start time, if /proc works here (not in Deno without --allow-all, nor off Linux). */
let thisStartTime: string | undefined;

export function startTimeOfThisProcess(): string {
  if (thisStartTime === undefined) {
    const probe = process.platform === "linux" ? probeProcFs(process.pid) : undefined;
    thisStartTime = probe?.state === "running" ? probe.startTime : "";
  }
  return thisStartTime;
}

export type Verdict = { alive: false } | { alive: true; why: string };

/** Whether `owner` may still hold the file: alive unless proven dead. */
export function judge(owner: LockOwner, fileName: string): Verdict {
  const ownStartTime = startTimeOfThisProcess();
  if (owner.pid === process.pid) {
    const earlierProcess = ownStartTime !== "" && owner.startTime !== "" && owner.startTime !== ownStartTime;
    if (earlierProcess) return { alive: false };
    return { alive: true, why: `${fileName} is held in this process (another DB object, worker thread or copy of pgz)` };
  }
  // /proc is trusted only where it shows this process: otherwise ENOENT proves nothing.
  const probe = ownStartTime !== "" ? probeProcFs(owner.pid) : probeWithSignal(owner.pid);
  if (probe.state === "gone") return { alive: false };
  if (probe.state === "running") {
    // A reused pid is proven only by two known start times that differ: a probe that cannot
    // read one (kill(pid, 0), as Deno with --allow-run does it) proves the owner alive.
    const reused = owner.startTime !== "" && probe.startTime !== "" && probe.startTime !== owner.startTime;
    if (reused) return { alive: false };
    return { alive: true, why: `${fileName} is held by process ${owner.pid}` };
  }
  return { alive: true, why: `${fileName} names process ${owner.pid}, and whether it lives cannot be told (${probe.reason}); see "Node, Deno, Bun" in the README` };
}

/** kill(pid, 0): only ESRCH means gone. EPERM (someone else's process) and Deno's NotCapable are unknown or alive. */
function probeWithSignal(pid: number): ProcessProbe {
  try {
    process.kill(pid, 0);
    return { state: "running", startTime: "" };
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ESRCH") return { state: "gone" };
    if (code === "EPERM") return { state: "running", startTime: "" };
    return { state: "unknown", reason: `kill(${pid}, 0) failed: ${code ?? (error as Error).name}` };
  }
}

/** Throws PGZ_LOCKED unless `bytes` (the contents of `fileName`) name an owner proven dead. */
function refuseUnlessStale(bytes: Uint8Array, fileName: string): void {
  const owner = decodeLockOwner(bytes);
  if (!owner) throw locked(`${fileName} names no owner pgz can read; if no process uses the database, remove it by hand`);
  const verdict = judge(owner, fileName);
  if (verdict.alive) throw locked(verdict.why);
}

function isMissing(error: unknown): boolean {
  return error instanceof PgzError && (error.cause as { code?: string } | undefined)?.code === "ENOENT";
}

/**
 * Moves `fileName`, judged stale with contents `stale`, out of the way: renamed to a name of our
 * own, then checked. If what moved is not what was judged (it changed hands in between), it is
 * put back while the name is still free, and the open is refused.
 */
function moveAside(storage: Storage, fileName: string, stale: Uint8Array, nonce: string): void {
  const aside = `${fileName}.${nonce}${TEMPORARY_SUFFIX}`;
  try {
    storage.rename(fileName, aside);
  } catch (error) {
    if (isMissing(error)) return; // someone else moved it first
    throw error;
  }
  const moved = storage.readSmallFile(aside);
  if (moved && bytesEqual(moved, stale)) {
    storage.remove(aside);
    return;
  }
  if (moved && storage.createExclusive(fileName, moved)) storage.remove(aside);
  throw locked(`${fileName} changed hands while a stale lock was taken over`);
}

/** Removes `fileName` only if it still holds exactly `contents` (ours). */
function removeIfOurs(storage: Storage, fileName: string, contents: Uint8Array): void {
  const current = storage.readSmallFile(fileName);
  if (current && bytesEqual(current, contents)) storage.remove(fileName);
}

/** Creates the LOCK.break guard, breaking one left by a dead process. */
function takeGuard(storage: Storage, contents: Uint8Array, nonce: string): void {
  for (let attempt = 0; attempt < ATTEMPTS_MAX; attempt++) {
    if (storage.createExclusive(FILE_LOCK_BREAK, contents)) return;
    const guard = storage.readSmallFile(FILE_LOCK_BREAK);
    if (guard === undefined) continue;
    refuseUnlessStale(guard, `${FILE_LOCK_BREAK} (another opener taking over a stale LOCK)`);
    moveAside(storage, FILE_LOCK_BREAK, guard, nonce);
  }
  throw locked(`${FILE_LOCK_BREAK} kept changing hands`);
}

/** Replaces the LOCK judged stale (`stale`) with ours, holding the guard throughout. */
function takeOverStaleLock(storage: Storage, stale: Uint8Array, contents: Uint8Array, nonce: string): void {
  takeGuard(storage, contents, nonce);
  try {
    const current = storage.readSmallFile(FILE_LOCK);
    if (current && !bytesEqual(current, stale)) throw locked(`${FILE_LOCK} was taken by another opener`);
    if (current) moveAside(storage, FILE_LOCK, stale, nonce);
    if (!storage.createExclusive(FILE_LOCK, contents)) throw locked(`${FILE_LOCK} was taken by another opener`);
  } finally {
    removeIfOurs(storage, FILE_LOCK_BREAK, contents);
  }
}

function takeLock(storage: Storage, contents: Uint8Array, nonce: string): void {
  for (let attempt = 0; attempt < ATTEMPTS_MAX; attempt++) {
    if (storage.createExclusive(FILE_LOCK, contents)) return;
    const current = storage.readSmallFile(FILE_LOCK);
    if (current === undefined) continue; // released between the two calls
    refuseUnlessStale(current, FILE_LOCK);
    takeOverStaleLock(storage, current, contents, nonce);
    return;
  }
  throw locked(`${FILE_LOCK} kept changing hands`);
}

/** Takes the database's lock; returns its release, which removes LOCK only while it is ours. */
export function acquireLock(storage: Storage): () => void {
  const identity = directoryIdentity(storage.directory);
  const registry = openInThisThread();
  if (registry.has(identity)) throw locked(`${storage.directory} is already open in this thread`);
  const nonce = randomUUID();
  const contents = encodeLockOwner({ pid: process.pid, startTime: startTimeOfThisProcess(), nonce });
  try {
    takeLock(storage, contents, nonce);
  } catch (error) {
    if (!(error instanceof PgzError && error.code === "PGZ_LOCKED")) throw error;
    throw locked(`${storage.directory} is locked: ${error.message}`);
  }
  registry.add(identity);
  return () => {
    registry.delete(identity);
    removeIfOurs(storage, FILE_LOCK, contents);
  };
}
