/**
 * One process opens a database at a time. node:fs has no flock, so the LOCK file holds the
 * owner's pid: a lock whose process is gone (killed) is stale and taken over; a live owner, or a
 * second open in this same process, gets PGZ_LOCKED.
 */
import * as path from "node:path";
import process from "node:process";
import { PgzError } from "./errors.ts";
import { FILE_LOCK } from "./format.ts";
import type { Storage } from "./io.ts";

const openInThisProcess = new Set<string>();

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === "EPERM";
  }
}

export function acquireLock(storage: Storage): () => void {
  const directory = path.resolve(storage.directory);
  if (openInThisProcess.has(directory)) throw new PgzError("PGZ_LOCKED", `${directory} is already open in this process`);
  const contents = new TextEncoder().encode(String(process.pid));
  if (!storage.createExclusive(FILE_LOCK, contents)) {
    const owner = Number(new TextDecoder().decode(storage.readSmallFile(FILE_LOCK) ?? new Uint8Array()));
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && processIsAlive(owner)) {
      throw new PgzError("PGZ_LOCKED", `${directory} is locked by process ${owner}`);
    }
    storage.remove(FILE_LOCK);
    if (!storage.createExclusive(FILE_LOCK, contents)) throw new PgzError("PGZ_LOCKED", `${directory} was locked by another process while opening`);
  }
  openInThisProcess.add(directory);
  return () => {
    openInThisProcess.delete(directory);
    storage.remove(FILE_LOCK);
  };
}
