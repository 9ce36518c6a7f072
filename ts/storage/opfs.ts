/**
 * The browser backend of the Storage interface: the Origin Private File System through
 * FileSystemSyncAccessHandle, which exists only in dedicated workers. A handle reads and writes
 * at an offset, truncates and flushes synchronously, but OPFS creates, renames and removes files
 * only through promises, while the engine's Storage is synchronous. So a database is an OPFS
 * directory holding a pool of physical files ("slots") whose handles are all opened when the
 * database opens; page 0 of each slot names the pgz file it holds (ts/storage/opfs-slot.ts) and
 * the file's bytes follow from PAGE_SIZE. Creating a file takes a free slot and writes its
 * header, renaming rewrites the header, removing truncates the slot: each is one synchronous
 * write and flush, durable when the call returns. Free slots are added in the background.
 *
 * Crash semantics match the Node backend: write() hands bytes to the browser, flush() (sync) is
 * the fsync. README "pgz in the browser" lists where OPFS differs from POSIX and what pgz does.
 */
import { assert } from "../assert.ts";
import { PgzError } from "../errors.ts";
import { OPFS_NAME_BYTES_MAX, OPFS_SLOT_HEADER_BYTES } from "../format.ts";
import { SMALL_FILE_BYTES_MAX, type Storage, type StorageFile } from "./io.ts";
import { OpfsFile, Slot, opfsError, readFully } from "./opfs-file.ts";
import { decodeSlotHeader, encodeSlotHeader, slotNameBytes } from "./opfs-slot.ts";
import type { OpfsDirectoryHandle, SyncAccessHandle, WebLocks } from "./opfs-types.ts";

export interface OpfsOpenOptions {
  /** Create the database's directory when missing (default true). */
  create?: boolean;
  /** Wait for another tab or worker to close the database instead of PGZ_LOCKED (default false). */
  wait?: boolean;
  /** Free slots kept ready: the files one synchronous call may create before the pool refills. */
  spareSlots?: number;
}

const SPARE_SLOTS_DEFAULT = 64;
const SLOT_FILE_PATTERN = /^slot-(\d{6,})$/;

function missing(operation: string, name: string): PgzError {
  return new PgzError("PGZ_IO", `${operation} ${name} failed: ENOENT`, { file: name, cause: { code: "ENOENT" } });
}

/** Web Locks of this context still being let go (a release takes effect asynchronously). */
const releasing = new Map<string, Promise<unknown>>();

interface HeldLock {
  /** Lets go once `after` settles (a slot still being opened must be closed first). */
  release(after?: Promise<unknown>): void;
  /** Settles once the lock is free for the next opener. */
  released: Promise<unknown>;
}

/** Holds the Web Lock `pgz:<name>` until released; PGZ_LOCKED if taken and not waiting. */
async function takeWebLock(name: string, wait: boolean): Promise<HeldLock> {
  const locks = (globalThis as { navigator?: { locks?: WebLocks } }).navigator?.locks;
  if (!locks) throw new PgzError("PGZ_IO", "the Web Locks API (navigator.locks) is not available here");
  await releasing.get(name);
  return new Promise((resolve, reject) => {
    const released = locks.request(`pgz:${name}`, { ifAvailable: !wait }, (lock) => {
      if (lock === null) {
        reject(new PgzError("PGZ_LOCKED", `${name} is open in another tab or worker (Web Lock pgz:${name} is held)`));
        return undefined;
      }
      return new Promise<void>((release) => resolve({ release: (after) => letGo(name, released, release, after), released }));
    });
    released.catch(reject);
  });
}

/** Releases a held Web Lock; an opener in this context waits for it to take effect. */
function letGo(name: string, released: Promise<unknown>, release: () => void, after: Promise<unknown> = Promise.resolve()): void {
  const settled = after
    .catch(() => undefined)
    .then(() => {
      release();
      return released;
    })
    .catch(() => undefined)
    .finally(() => releasing.get(name) === settled && releasing.delete(name));
  releasing.set(name, settled);
}

/** The directory named `name` ("a/b" nests) under the origin's OPFS root. */
async function directoryOf(name: string, create: boolean): Promise<OpfsDirectoryHandle> {
  const storageManager = (globalThis as { navigator?: { storage?: { getDirectory?(): Promise<OpfsDirectoryHandle> } } }).navigator?.storage;
  if (!storageManager?.getDirectory) throw new PgzError("PGZ_IO", "the Origin Private File System is not available here");
  let directory = await storageManager.getDirectory();
  for (const part of name.split("/")) {
    try {
      directory = await directory.getDirectoryHandle(part, { create });
    } catch (error) {
      if ((error as { name?: string }).name === "NotFoundError") throw new PgzError("PGZ_NOT_FOUND", `no database in ${name}`);
      throw opfsError("open directory", name, error);
    }
  }
  return directory;
}

function checkDatabaseName(name: unknown): asserts name is string {
  const valid = typeof name === "string" && name.length > 0 && name.split("/").every((part) => part !== "" && part !== "." && part !== "..");
  if (!valid) throw new PgzError("PGZ_INVALID_ARGUMENT", `database name must be a non-empty path of OPFS directory names, got ${JSON.stringify(name)}`);
}

export class OpfsStorage implements Storage {
  private readonly slots = new Map<string, Slot>();
  private readonly free: Slot[] = [];
  private readonly all: Slot[] = [];
  private generation = 0;
  private nextPhysicalNumber = 0;
  private refilling: Promise<void> | undefined;
  private refillError: unknown;
  private lockTaken = false;
  private closed = false;

  private constructor(
    readonly directory: string,
    private readonly handle: OpfsDirectoryHandle,
    private readonly webLock: HeldLock,
    private readonly spareSlots: number,
  ) {}

  /** Takes the database's Web Lock, opens every slot and readies the free pool. */
  static async open(name: string, options: OpfsOpenOptions = {}): Promise<OpfsStorage> {
    checkDatabaseName(name);
    const spareSlots = options.spareSlots ?? SPARE_SLOTS_DEFAULT;
    if (!Number.isSafeInteger(spareSlots) || spareSlots < 1) throw new PgzError("PGZ_INVALID_ARGUMENT", "spareSlots must be a positive integer");
    const webLock = await takeWebLock(name, options.wait === true);
    let storage: OpfsStorage | undefined;
    try {
      const directory = await directoryOf(name, options.create !== false);
      storage = new OpfsStorage(name, directory, webLock, spareSlots);
      await storage.load();
      await storage.refill();
      return storage;
    } catch (error) {
      storage?.closeHandles();
      webLock.release();
      throw error;
    }
  }

  /** Opens every slot file; a file named by two slots (a rename cut short) keeps the newer. */
  private async load(): Promise<void> {
    for await (const [physicalName, entry] of this.handle.entries()) {
      const match = SLOT_FILE_PATTERN.exec(physicalName);
      if (entry.kind !== "file" || !match) continue;
      this.nextPhysicalNumber = Math.max(this.nextPhysicalNumber, Number(match[1]) + 1);
      let handle: SyncAccessHandle;
      try {
        handle = await entry.createSyncAccessHandle();
      } catch (error) {
        throw opfsError("open", `${this.directory}/${physicalName}`, error);
      }
      const slot = new Slot(physicalName, handle);
      this.all.push(slot);
      this.adopt(slot);
    }
  }

  private adopt(slot: Slot): void {
    const page = new Uint8Array(OPFS_SLOT_HEADER_BYTES);
    const header = decodeSlotHeader(page.subarray(0, slot.handle.read(page, { at: 0 })));
    if (!header) return this.release(slot);
    this.generation = Math.max(this.generation, header.generation + 1);
    const other = this.slots.get(header.name);
    const otherGeneration = other ? decodeSlotHeader(readHeaderPage(other))!.generation : -1;
    if (other && otherGeneration > header.generation) return this.release(slot);
    if (other) this.release(other);
    slot.name = header.name;
    this.slots.set(header.name, slot);
  }

  /** Adds empty slot files until `spareSlots` are free. The host awaits it between calls. */
  refill(): Promise<void> {
    if (this.refilling) return this.refilling;
    if (this.closed || this.free.length >= this.spareSlots) return Promise.resolve();
    this.refilling = this.addSlots().finally(() => (this.refilling = undefined));
    return this.refilling;
  }

  private async addSlots(): Promise<void> {
    try {
      while (!this.closed && this.free.length < this.spareSlots) {
        const physicalName = `slot-${String(this.nextPhysicalNumber++).padStart(6, "0")}`;
        const entry = await this.handle.getFileHandle(physicalName, { create: true });
        const slot = new Slot(physicalName, await entry.createSyncAccessHandle());
        if (this.closed) return slot.handle.close();
        this.all.push(slot);
        this.release(slot);
      }
    } catch (error) {
      this.refillError = error;
    }
  }

  /** Empties a slot durably and returns it to the free pool. */
  private release(slot: Slot): void {
    if (slot.handle.getSize() !== 0) {
      slot.handle.truncate(0);
      slot.handle.flush();
    }
    slot.name = undefined;
    slot.removed = false;
    this.free.push(slot);
  }

  /** Writes page 0 naming `name` at a fresh generation and flushes it: the name is durable. */
  private writeHeader(slot: Slot, name: string): void {
    slot.handle.write(encodeSlotHeader({ name, generation: this.generation++ }), { at: 0 });
    slot.handle.flush();
  }

  /** Clears a slot's name durably; its bytes stay readable while a StorageFile has it open. */
  private unname(slot: Slot): void {
    // After a rename over it, the name already points at the renamed slot.
    if (slot.name !== undefined && this.slots.get(slot.name) === slot) this.slots.delete(slot.name);
    if (slot.openCount === 0) return this.release(slot);
    slot.handle.write(new Uint8Array(OPFS_SLOT_HEADER_BYTES), { at: 0 });
    slot.handle.flush();
    slot.name = undefined;
    slot.removed = true;
  }

  private checkOpen(operation: string, name: string): void {
    if (this.closed) throw new PgzError("PGZ_CLOSED", `${operation} ${name}: the OPFS storage ${this.directory} is closed`);
  }

  private create(name: string): Slot {
    if (slotNameBytes(name).length > OPFS_NAME_BYTES_MAX) throw new PgzError("PGZ_INVALID_ARGUMENT", `file name ${name} is too long for OPFS`);
    const slot = this.free.pop();
    void this.refill();
    if (!slot) {
      const cause = this.refillError ?? { name: "PoolExhausted" };
      throw opfsError("create", `${name} (no free OPFS slot: one call created more than ${this.spareSlots} files)`, cause);
    }
    try {
      this.writeHeader(slot, name);
    } catch (error) {
      this.release(slot);
      throw opfsError("create", name, error);
    }
    slot.name = name;
    this.slots.set(name, slot);
    return slot;
  }

  open(name: string, options: { write?: boolean; create?: boolean } = {}): StorageFile {
    this.checkOpen("open", name);
    const slot = this.slots.get(name) ?? (options.create ? this.create(name) : undefined);
    if (!slot) throw missing("open", name);
    slot.openCount++;
    return new OpfsFile(name, slot, options.write === true || options.create === true, () => this.closeFile(slot));
  }

  private closeFile(slot: Slot): void {
    slot.openCount--;
    assert(slot.openCount >= 0, `slot ${slot.physicalName} closed more often than opened`);
    if (slot.openCount === 0 && slot.removed && !this.closed) this.release(slot);
  }

  exists(name: string): boolean {
    return this.slots.has(name);
  }

  list(): string[] {
    return [...this.slots.keys()];
  }

  remove(name: string): void {
    this.checkOpen("remove", name);
    const slot = this.slots.get(name);
    if (!slot) return;
    try {
      this.unname(slot);
    } catch (error) {
      throw opfsError("remove", name, error);
    }
  }

  /**
   * Rewrites the slot's header with the new name (one flushed page write: the rename is atomic
   * and durable), then empties the slot the name replaced. A crash in between leaves two slots
   * naming `to`; the next open keeps the higher generation, which is the renamed one.
   */
  rename(from: string, to: string): void {
    this.checkOpen("rename", from);
    const slot = this.slots.get(from);
    if (!slot) throw missing("rename", from);
    if (from === to) return;
    if (slotNameBytes(to).length > OPFS_NAME_BYTES_MAX) throw new PgzError("PGZ_INVALID_ARGUMENT", `file name ${to} is too long for OPFS`);
    const replaced = this.slots.get(to);
    try {
      this.writeHeader(slot, to);
      this.slots.delete(from);
      slot.name = to;
      this.slots.set(to, slot);
      if (replaced) this.unname(replaced);
    } catch (error) {
      throw opfsError("rename", from, error);
    }
  }

  /** Nothing to do: every create, rename and remove flushed its slot header before returning. */
  syncDirectory(): void {
    this.checkOpen("sync", this.directory);
  }

  readSmallFile(name: string): Uint8Array | undefined {
    const slot = this.slots.get(name);
    if (!slot) return undefined;
    const buffer = new Uint8Array(SMALL_FILE_BYTES_MAX + 1);
    return buffer.subarray(0, readFully(slot.handle, buffer, OPFS_SLOT_HEADER_BYTES));
  }

  createExclusive(name: string, contents: Uint8Array): boolean {
    this.checkOpen("create", name);
    if (this.slots.has(name)) return false;
    const slot = this.create(name);
    try {
      slot.handle.write(contents, { at: OPFS_SLOT_HEADER_BYTES });
      slot.handle.flush();
    } catch (error) {
      throw opfsError("create", name, error);
    }
    return true;
  }

  /** The single-opener lock is the Web Lock taken by open(); its release closes the storage. */
  lock(): () => void {
    if (this.closed || this.lockTaken) throw new PgzError("PGZ_LOCKED", `${this.directory} is already open through this storage`);
    this.lockTaken = true;
    return () => this.close();
  }

  /** Closes every slot handle and releases the Web Lock. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closeHandles();
    // A refill in flight may still be opening a slot file: the next opener would find it held.
    this.webLock.release(this.refilling);
  }

  /** Settles once close() has let go of the Web Lock, so another opener can take it at once. */
  released(): Promise<unknown> {
    return releasing.get(this.directory) ?? this.webLock.released;
  }

  private closeHandles(): void {
    for (const slot of this.all) {
      try {
        slot.handle.close();
      } catch {
        // Closing a handle the browser already invalidated: nothing is left to release.
      }
    }
  }

  /** Slot counts, for stats and tests. */
  slotCounts(): { files: number; free: number; slots: number } {
    return { files: this.slots.size, free: this.free.length, slots: this.all.length };
  }
}

function readHeaderPage(slot: Slot): Uint8Array {
  const page = new Uint8Array(OPFS_SLOT_HEADER_BYTES);
  return page.subarray(0, slot.handle.read(page, { at: 0 }));
}
