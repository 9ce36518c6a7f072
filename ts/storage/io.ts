/**
 * Page-aligned file I/O: the only module that touches the disk. The engine talks to the small
 * Storage interface, so another backend (in-browser storage, or a fault-injecting wrapper in
 * tests) can replace node:fs. Every write starts at a PAGE_SIZE-aligned offset and covers whole
 * pages, so an O_DIRECT mode stays possible. Failures surface as PgzError PGZ_IO.
 */
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { assert } from "../assert.ts";
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
}

export function ioError(operation: string, target: string, cause: unknown): PgzError {
  const code = (cause as { code?: string }).code ?? "unknown";
  return new PgzError("PGZ_IO", `${operation} ${target} failed: ${code}`, { file: target, cause });
}

/** link() failures that mean "this file system has no hard links" (FAT, some network mounts). */
const NO_HARD_LINKS = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS"]);

function isPageAligned(value: number): boolean {
  return value % PAGE_SIZE === 0;
}

class NodeFile implements StorageFile {
  constructor(
    readonly name: string,
    private descriptor: number,
  ) {}

  size(): number {
    try {
      return fs.fstatSync(this.descriptor).size;
    } catch (error) {
      throw ioError("fstat", this.name, error);
    }
  }

  read(target: Uint8Array, position: number): number {
    let done = 0;
    try {
      while (done < target.length) {
        const count = fs.readSync(this.descriptor, target, done, target.length - done, position + done);
        if (count === 0) break;
        done += count;
      }
    } catch (error) {
      throw ioError("read", this.name, error);
    }
    return done;
  }

  write(pages: Uint8Array, position: number): void {
    assert(isPageAligned(position), `write position ${position} is not page-aligned`);
    assert(isPageAligned(pages.length), `write length ${pages.length} is not whole pages`);
    let done = 0;
    try {
      while (done < pages.length) {
        done += fs.writeSync(this.descriptor, pages, done, pages.length - done, position + done);
      }
    } catch (error) {
      throw ioError("write", this.name, error);
    }
  }

  sync(): void {
    try {
      fs.fdatasyncSync(this.descriptor);
    } catch (error) {
      throw ioError("fdatasync", this.name, error);
    }
  }

  syncAsync(): Promise<void> {
    return new Promise((resolve, reject) => {
      fs.fdatasync(this.descriptor, (error) => (error ? reject(ioError("fdatasync", this.name, error)) : resolve()));
    });
  }

  truncate(size: number): void {
    try {
      fs.ftruncateSync(this.descriptor, size);
    } catch (error) {
      throw ioError("truncate", this.name, error);
    }
  }

  close(): void {
    if (this.descriptor < 0) return;
    const descriptor = this.descriptor;
    this.descriptor = -1;
    try {
      fs.closeSync(descriptor);
    } catch (error) {
      throw ioError("close", this.name, error);
    }
  }
}

/** Storage over node:fs (works in Node, Deno and Bun). */
export class NodeStorage implements Storage {
  /** With `create: false`, a missing directory is PGZ_NOT_FOUND and nothing is created. */
  constructor(
    readonly directory: string,
    options: { create?: boolean } = {},
  ) {
    if (options.create === false) {
      if (!fs.existsSync(directory)) throw new PgzError("PGZ_NOT_FOUND", `no database in ${directory}`);
      return;
    }
    try {
      fs.mkdirSync(directory, { recursive: true });
    } catch (error) {
      throw ioError("mkdir", directory, error);
    }
  }

  private pathOf(name: string): string {
    return path.join(this.directory, name);
  }

  open(name: string, options: { write?: boolean; create?: boolean } = {}): StorageFile {
    const flags = options.create ? "a+" : options.write ? "r+" : "r";
    try {
      // "a+" would force appends; reopen read-write once the file exists.
      if (options.create) fs.closeSync(fs.openSync(this.pathOf(name), flags));
      return new NodeFile(name, fs.openSync(this.pathOf(name), options.write || options.create ? "r+" : "r"));
    } catch (error) {
      throw ioError("open", name, error);
    }
  }

  exists(name: string): boolean {
    return fs.existsSync(this.pathOf(name));
  }

  list(): string[] {
    try {
      return fs.readdirSync(this.directory);
    } catch (error) {
      throw ioError("readdir", this.directory, error);
    }
  }

  remove(name: string): void {
    try {
      fs.rmSync(this.pathOf(name), { force: true });
    } catch (error) {
      throw ioError("remove", name, error);
    }
  }

  rename(from: string, to: string): void {
    try {
      fs.renameSync(this.pathOf(from), this.pathOf(to));
    } catch (error) {
      throw ioError("rename", from, error);
    }
  }

  syncDirectory(): void {
    let descriptor = -1;
    try {
      descriptor = fs.openSync(this.directory, "r");
      fs.fsyncSync(descriptor);
    } catch (error) {
      throw ioError("fsync", this.directory, error);
    } finally {
      if (descriptor >= 0) fs.closeSync(descriptor);
    }
  }

  readSmallFile(name: string): Uint8Array | undefined {
    let descriptor: number;
    try {
      descriptor = fs.openSync(this.pathOf(name), "r");
    } catch (error) {
      if ((error as { code?: string }).code === "ENOENT") return undefined;
      throw ioError("open", name, error);
    }
    try {
      // Never more than SMALL_FILE_BYTES_MAX + 1 bytes, whatever the file's size (a hostile,
      // sparse 2 GiB LOCK must not cost 2 GiB): one byte past the limit shows the caller the
      // file is not one pgz wrote.
      const buffer = new Uint8Array(SMALL_FILE_BYTES_MAX + 1);
      let done = 0;
      while (done < buffer.length) {
        const count = fs.readSync(descriptor, buffer, done, buffer.length - done, done);
        if (count === 0) break;
        done += count;
      }
      return buffer.subarray(0, done);
    } catch (error) {
      throw ioError("read", name, error);
    } finally {
      fs.closeSync(descriptor);
    }
  }

  createExclusive(name: string, contents: Uint8Array): boolean {
    // Written aside, then hard-linked into place (link fails if the name exists): the file
    // appears with all its contents or not at all, so no reader ever sees it empty or torn.
    const temporary = `${name}.${randomUUID()}${TEMPORARY_SUFFIX}`;
    try {
      fs.writeFileSync(this.pathOf(temporary), contents, { flag: "wx" });
    } catch (error) {
      throw ioError("create", temporary, error);
    }
    try {
      fs.linkSync(this.pathOf(temporary), this.pathOf(name));
      return true;
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === "EEXIST") return false;
      // The holder's recovery removes *.tmp files: the directory is taken, as if `name` existed.
      if (code === "ENOENT" && fs.existsSync(this.directory)) return false;
      if (code !== undefined && NO_HARD_LINKS.has(code)) return this.createExclusiveWithoutLink(name, contents);
      throw ioError("create", name, error);
    } finally {
      fs.rmSync(this.pathOf(temporary), { force: true });
    }
  }

  /** O_EXCL create on file systems without hard links: a reader may see the file empty for a moment. */
  private createExclusiveWithoutLink(name: string, contents: Uint8Array): boolean {
    try {
      fs.writeFileSync(this.pathOf(name), contents, { flag: "wx" });
      return true;
    } catch (error) {
      if ((error as { code?: string }).code === "EEXIST") return false;
      throw ioError("create", name, error);
    }
  }
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
