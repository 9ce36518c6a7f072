/**
 * A slot of the OPFS backend (one physical file and its sync access handle) and the StorageFile
 * that reads and writes the pgz file in it, at offsets past the slot's header page
 * (ts/storage/opfs.ts has the design).
 */
import { assert } from "../assert.ts";
import { PgzError } from "../errors.ts";
import { OPFS_SLOT_HEADER_BYTES } from "../format.ts";
import { isPageAligned, type StorageFile } from "./io.ts";
import type { SyncAccessHandle } from "./opfs-types.ts";

/** One physical OPFS file and the pgz file it holds. */
export class Slot {
  /** The pgz file in this slot; undefined when free. */
  name: string | undefined;
  /** StorageFile objects open on this slot: a removed file stays readable until they close. */
  openCount = 0;
  /** Removed while open: freed when the last StorageFile closes (POSIX unlink). */
  removed = false;

  constructor(
    readonly physicalName: string,
    readonly handle: SyncAccessHandle,
  ) {}
}

export function opfsError(operation: string, target: string, cause: unknown): PgzError {
  const name = (cause as { name?: string } | undefined)?.name ?? "unknown";
  if (name === "NoModificationAllowedError") {
    return new PgzError("PGZ_LOCKED", `${operation} ${target} failed: another tab or worker holds it open`, { file: target, cause });
  }
  return new PgzError("PGZ_IO", `${operation} ${target} failed: ${name}`, { file: target, cause });
}

export function readFully(handle: SyncAccessHandle, target: Uint8Array, at: number): number {
  let done = 0;
  while (done < target.length) {
    const count = handle.read(target.subarray(done), { at: at + done });
    if (count === 0) break;
    done += count;
  }
  return done;
}

export class OpfsFile implements StorageFile {
  private closed = false;

  constructor(
    readonly name: string,
    private readonly slot: Slot,
    private readonly writable: boolean,
    private readonly onClose: () => void,
  ) {}

  size(): number {
    try {
      return Math.max(0, this.slot.handle.getSize() - OPFS_SLOT_HEADER_BYTES);
    } catch (error) {
      throw opfsError("size", this.name, error);
    }
  }

  read(target: Uint8Array, position: number): number {
    try {
      return readFully(this.slot.handle, target, OPFS_SLOT_HEADER_BYTES + position);
    } catch (error) {
      throw opfsError("read", this.name, error);
    }
  }

  write(pages: Uint8Array, position: number): void {
    assert(isPageAligned(position), `write position ${position} is not page-aligned`);
    assert(isPageAligned(pages.length), `write length ${pages.length} is not whole pages`);
    if (!this.writable) throw opfsError("write", this.name, { name: "NotWritable" });
    let written: number;
    try {
      written = this.slot.handle.write(pages, { at: OPFS_SLOT_HEADER_BYTES + position });
    } catch (error) {
      throw opfsError("write", this.name, error);
    }
    if (written !== pages.length) throw opfsError("write", this.name, { name: `ShortWrite(${written} of ${pages.length})` });
  }

  sync(): void {
    try {
      this.slot.handle.flush();
    } catch (error) {
      throw opfsError("flush", this.name, error);
    }
  }

  syncAsync(): Promise<void> {
    try {
      this.sync();
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  truncate(size: number): void {
    try {
      this.slot.handle.truncate(OPFS_SLOT_HEADER_BYTES + size);
    } catch (error) {
      throw opfsError("truncate", this.name, error);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
  }
}
