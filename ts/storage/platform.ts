/**
 * What DB.open uses when no `storage` option is given: the Node backend and its LOCK file,
 * installed by the Node entry points (ts/storage/node-platform.ts, imported by ts/index.ts and
 * ts/tools/cli.ts). The engine itself never imports them, so pgz/browser reaches no node: module; in
 * a browser every DB is opened with an explicit OPFS storage, which brings its own lock.
 */
import { invalidArgument } from "../errors.ts";
import type { Storage } from "./io.ts";

export interface Platform {
  openStorage(directory: string, options: { create: boolean }): Storage;
  /** The single-opener lock for a storage that has no lock() of its own. */
  acquireLock(storage: Storage): () => void;
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
