/**
 * Opening the synchronous DB on OPFS, for code that already runs in a dedicated worker: OPFS's
 * directory calls and the Web Lock are asynchronous, so this one step is; everything after it is
 * the plain synchronous DB.
 */
import { DB, type OpenOptions } from "../api/db.ts";
import { invalidArgument } from "../errors.ts";
import { OpfsStorage } from "../storage/opfs.ts";

export interface BrowserOpenOptions extends Omit<OpenOptions, "storage"> {
  /** Wait for another tab or worker to close the database instead of PGZ_LOCKED (default false). */
  wait?: boolean;
  /** Free OPFS slot files kept ready (default 64): files one call may create before a refill. */
  spareSlots?: number;
}

const storages = new WeakMap<DB, OpfsStorage>();

/** Opens (or creates) the database `name` in the origin's OPFS; run it in a dedicated worker. */
export async function openOpfs(name: string, options: BrowserOpenOptions = {}): Promise<DB> {
  if (typeof options !== "object" || options === null) throw invalidArgument("open options must be an object");
  const { wait, spareSlots, ...openOptions } = options;
  if (wait !== undefined && typeof wait !== "boolean") throw invalidArgument("option wait must be a boolean");
  const storage = await OpfsStorage.open(name, { create: openOptions.createIfMissing !== false, wait, spareSlots });
  try {
    const db = DB.open(name, { ...openOptions, storage });
    storages.set(db, storage);
    return db;
  } catch (error) {
    storage.close();
    throw error;
  }
}

/** The OPFS storage under a DB opened by openOpfs (for refills and slot counts). */
export function opfsStorageOf(db: DB): OpfsStorage | undefined {
  return storages.get(db);
}
