/**
 * The Node backend of the Storage interface (ts/storage/io.ts): node:fs, which Node, Deno and Bun all
 * provide. Kept apart from io.ts so an entry that never uses it (pgz/browser) reaches no node:
 * module.
 */
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { assert } from "../assert.ts";
import { PgzError } from "../errors.ts";
import { TEMPORARY_SUFFIX } from "../format.ts";
import { SMALL_FILE_BYTES_MAX, ioError, isPageAligned, type Storage, type StorageFile } from "./io.ts";

/** link() failures that mean "this file system has no hard links" (FAT, some network mounts). */
const NO_HARD_LINKS = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS"]);

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
