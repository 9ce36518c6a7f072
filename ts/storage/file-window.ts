/**
 * Reading a whole log segment or manifest through one bounded window, so a huge or sparse file
 * costs at most a window (or one record) of memory, never its size, and zeros are skipped by
 * words, not bytes.
 */
import { corruption } from "../errors.ts";
import { PAGE_SIZE } from "../format.ts";
import type { StorageFile } from "./io.ts";

/** Bytes read at a time (a larger window is read only for a record that needs it). */
export const WINDOW_BYTES = 4 * 1024 * 1024;

export class FileWindow {
  readonly size: number;
  private bytes = new Uint8Array(0);
  private base = 0;

  constructor(
    readonly file: StorageFile,
    private readonly windowBytes = WINDOW_BYTES,
  ) {
    this.size = file.size();
  }

  get name(): string {
    return this.file.name;
  }

  /**
   * A view of the bytes [offset, offset + length), shorter if the file ends first. Each window
   * is a fresh buffer, so views handed out earlier stay valid.
   */
  view(offset: number, length: number): Uint8Array {
    const end = Math.min(offset + length, this.size);
    if (end <= offset) return new Uint8Array(0);
    if (offset >= this.base && end <= this.base + this.bytes.length) return this.bytes.subarray(offset - this.base, end - this.base);
    // Page-aligned windows keep word-wise zero checks aligned.
    const start = offset - (offset % PAGE_SIZE);
    const windowLength = Math.min(this.size - start, Math.max(this.windowBytes, end - start));
    const bytes = new Uint8Array(windowLength);
    const count = this.file.read(bytes, start);
    if (count !== windowLength) throw corruption("file shrank while being read", { file: this.file.name, offset: start + count });
    this.bytes = bytes;
    this.base = start;
    return bytes.subarray(offset - start, end - start);
  }

  /** Whether every byte from `offset` to the end of the file is zero. */
  zeroFrom(offset: number): boolean {
    for (let at = offset; at < this.size; ) {
      const chunk = this.view(at, this.windowBytes - (at % PAGE_SIZE));
      if (!isAllZero(chunk)) return false;
      at += chunk.length;
    }
    return true;
  }
}

/** Whether every byte is zero, compared four bytes at a time. */
export function isAllZero(bytes: Uint8Array): boolean {
  let at = 0;
  while (at < bytes.length && (bytes.byteOffset + at) % 4 !== 0) if (bytes[at++] !== 0) return false;
  const wordCount = Math.max(0, bytes.length - at) >> 2;
  if (wordCount === 0) return bytes.subarray(at).every((byte) => byte === 0);
  const words = new Int32Array(bytes.buffer, bytes.byteOffset + at, wordCount);
  for (let start = 0; start < wordCount; start += 1024) {
    let any = 0;
    const end = Math.min(wordCount, start + 1024);
    for (let i = start; i < end; i++) any |= words[i]!;
    if (any !== 0) return false;
  }
  for (at += wordCount * 4; at < bytes.length; at++) if (bytes[at] !== 0) return false;
  return true;
}
