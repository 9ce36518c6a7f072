/**
 * What DB.open uses when no `storage` option is given: the Node backend and its LOCK file,
 * installed by the Node entry points (ts/storage/node-platform.ts, imported by ts/index.ts and
 * ts/tools/cli.ts). The engine itself never imports them, so pgz/browser reaches no node: module; in
 * a browser every DB is opened with an explicit OPFS storage, which brings its own lock.
 */
import { invalidArgument } from "../errors.ts";
import type { BackupReport, BackupSource } from "../api/backup.ts";
import type { Storage } from "./io.ts";
import type { GuardedStorage, ReaderRegistration } from "./readers.ts";
import type { ThreadData, ThreadHandle } from "./threads.ts";

/** Threads for background work (background: "worker"); Node, Deno and Bun have them. */
export interface ThreadPlatform {
  /** Whether a thread can run here (and the caller block on it with Atomics.wait). */
  available(): boolean;
  /** Starts the module at `url` on a thread with a port of a fresh channel (workerData.port). */
  spawn(url: URL, data: ThreadData): ThreadHandle;
}

export interface Platform {
  openStorage(directory: string, options: { create: boolean }): Storage;
  /** The single-opener lock for a storage that has no lock() of its own. */
  acquireLock(storage: Storage): () => void;
  /** The storage whose table and segment deletions wait for live readers (readers/ registrations). */
  guardRemovals(storage: Storage): GuardedStorage;
  /** A read-only open's registration in readers/, naming the files it reads. */
  registerReader(directory: string): ReaderRegistration;
  /** db.backup(): a consistent copy of `source` in `target` (hard links or copies). */
  backup(source: BackupSource, target: string): BackupReport;
  /** Threads for background work; without them every database runs it inline. */
  threads?: ThreadPlatform;
}

let installed: Platform | undefined;

export function installPlatform(platform: Platform): void {
  installed ??= platform;
}

export function platform(): Platform {
  if (installed === undefined) {
    throw invalidArgument("no default storage here: pass the storage option (in a browser, open through pgz/browser)");
  }
  return installed;
}

/** The installed platform's threads, if any (none in a browser: background work runs inline). */
export function platformThreads(): ThreadPlatform | undefined {
  return installed?.threads;
}
