/**
 * Page-aligned file I/O. The engine talks to the small Storage interface, so a backend
 * (node:fs in ts/storage/node.ts, OPFS in ts/storage/opfs.ts, or a fault-injecting wrapper in
 * tests) is the only code that touches the disk. Every write starts at a PAGE_SIZE-aligned
 * offset and covers whole pages, so an O_DIRECT mode stays possible. Failures surface as
 * PgzError PGZ_IO.
 */
import { PgzError } from "../errors.ts";
import { PAGE_SIZE, TEMPORARY_SUFFIX } from "../format.ts";

/** What readSmallFile reads at most: a LOCK is one short line. */
export const SMALL_FILE_BYTES_MAX = 4096;

export interface StorageFile {
  readonly name: string;
  size(): number;
  /** Reads up to target.length bytes at `position`; returns how many were read (short at EOF). */
  read(target: Uint8Array, position: number): number;
  /** Writes whole pages at a page-aligned position. */
  write(pages: Uint8Array, position: number): void;
  /** fdatasync: the file's data is durable when this returns. */
  sync(): void;
  /** fdatasync off the main thread: durable when the promise resolves. */
  syncAsync(): Promise<void>;
  truncate(size: number): void;
  close(): void;
}

export interface Storage {
  readonly directory: string;
  /** Opens a file for reading, or for writing too (creating it when `create`). */
  open(name: string, options?: { write?: boolean; create?: boolean }): StorageFile;
  exists(name: string): boolean;
  list(): string[];
  remove(name: string): void;
  rename(from: string, to: string): void;
  /** Makes creations, renames and removals in the directory durable. */
  syncDirectory(): void;
  /**
   * Reads a small whole file (the lock file); undefined if it does not exist. A file larger than
   * SMALL_FILE_BYTES_MAX comes back cut to SMALL_FILE_BYTES_MAX + 1 bytes.
   */
  readSmallFile(name: string): Uint8Array | undefined;
  /**
   * Creates a small file only if it does not exist; false if it does. Not page-aligned. The
   * lock relies on it being atomic: a reader sees the whole contents or no file.
   */
  createExclusive(name: string, contents: Uint8Array): boolean;
  /**
   * Takes this storage's single-opener lock and returns its release. Optional: without it,
   * DB.open takes the LOCK file protocol of ts/storage/lock.ts (Node). The OPFS backend holds a Web Lock.
   */
  lock?(): () => void;
}

export function ioError(operation: string, target: string, cause: unknown): PgzError {
  const code = (cause as { code?: string }).code ?? "unknown";
  return new PgzError("PGZ_IO", `${operation} ${target} failed: ${code}`, { file: target, cause });
}

export function isPageAligned(value: number): boolean {
  return value % PAGE_SIZE === 0;
}

/**
 * Replaces `name` with `pages` atomically: write a temporary file, fdatasync it, rename it over
 * the old one, fsync the directory. After a crash the file is either old or new, never torn.
 */
export function writeFileAtomically(storage: Storage, name: string, pages: Uint8Array): void {
  const temporary = name + TEMPORARY_SUFFIX;
  storage.remove(temporary);
  const file = storage.open(temporary, { create: true });
  try {
    file.write(pages, 0);
    file.sync();
  } finally {
    file.close();
  }
  storage.rename(temporary, name);
  storage.syncDirectory();
}

/** Reads exactly `length` bytes at `position`, or fails with PGZ_CORRUPTION (file too short). */
export function readExactly(file: StorageFile, position: number, length: number): Uint8Array {
  const target = new Uint8Array(length);
  const count = file.read(target, position);
  if (count !== length) {
    throw new PgzError("PGZ_CORRUPTION", `${file.name} is truncated: wanted ${length} bytes at offset ${position}, got ${count}`, {
      file: file.name,
      offset: position,
    });
  }
  return target;
}

/**
 * A bounded set of open read handles (the table cache, and the value log's readers), so a
 * database with thousands of files works under `ulimit -n 256`: the least recently used handle
 * is closed when a new one would pass `handlesMax`, and reopened on its next read.
 */
export class HandleCache {
  private readonly handles = new Map<string, StorageFile>();

  constructor(
    private readonly storage: Storage,
    readonly handlesMax: number,
  ) {}

  /**
   * An open handle for reading `name`. Use it within one synchronous call. `verify` runs on
   * every handle the cache opens (the file may have been replaced since it was last open): if
   * it throws, the handle is closed and the error goes to the caller.
   */
  get(name: string, verify?: (handle: StorageFile) => void): StorageFile {
    let handle = this.handles.get(name);
    if (handle) {
      // Map order is recency: re-insert to make it the newest.
      this.handles.delete(name);
      this.handles.set(name, handle);
      return handle;
    }
    handle = this.storage.open(name);
    try {
      verify?.(handle);
    } catch (error) {
      handle.close();
      throw error;
    }
    this.handles.set(name, handle);
    for (const [oldestName, oldest] of this.handles) {
      if (this.handles.size <= this.handlesMax) break;
      this.handles.delete(oldestName);
      oldest.close();
    }
    return handle;
  }

  /** Closes the handle of a file about to be deleted (or no longer read). */
  drop(name: string): void {
    this.handles.get(name)?.close();
    this.handles.delete(name);
  }

  get size(): number {
    return this.handles.size;
  }

  clear(): void {
    for (const handle of this.handles.values()) handle.close();
    this.handles.clear();
  }
}
