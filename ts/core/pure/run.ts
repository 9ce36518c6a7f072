/** Runs for the pure core: a growable Uint8Array in run encoding (ts/core/types.ts). */
import { invalidArgument } from "../../errors.ts";
import type { Run } from "../types.ts";
import { countRunEntries } from "../checks.ts";

export class PureRun implements Run {
  buffer: Uint8Array;
  view: DataView;
  byteLength = 0;
  count = 0;
  private freed = false;

  constructor(capacityBytes = 4096) {
    this.buffer = new Uint8Array(Math.max(64, capacityBytes));
    this.view = new DataView(this.buffer.buffer);
  }

  bytes(): Uint8Array {
    this.checkLive();
    return this.buffer.subarray(0, this.byteLength);
  }

  clear(): void {
    this.checkLive();
    this.byteLength = 0;
    this.count = 0;
  }

  free(): void {
    this.freed = true;
  }

  checkLive(): void {
    if (this.freed) throw invalidArgument("run used after free()");
  }

  /** Makes room for `bytes` more bytes; returns the offset where they go. */
  reserve(bytes: number): number {
    const needed = this.byteLength + bytes;
    if (needed > this.buffer.length) {
      let capacity = this.buffer.length;
      while (capacity < needed) capacity *= 2;
      const grown = new Uint8Array(capacity);
      grown.set(this.buffer.subarray(0, this.byteLength));
      this.buffer = grown;
      this.view = new DataView(grown.buffer);
    }
    return this.byteLength;
  }

  /** Appends one entry copied from `source` (key at keyOffset, value at valueOffset). */
  appendFrom(source: Uint8Array, keyOffset: number, keyLength: number, valueOffset: number, valueLength: number): void {
    const at = this.reserve(8 + keyLength + valueLength);
    this.view.setUint32(at, keyLength, true);
    this.view.setUint32(at + 4, valueLength, true);
    this.buffer.set(source.subarray(keyOffset, keyOffset + keyLength), at + 8);
    this.buffer.set(source.subarray(valueOffset, valueOffset + valueLength), at + 8 + keyLength);
    this.byteLength = at + 8 + keyLength + valueLength;
    this.count++;
  }

  appendEncoded(bytes: Uint8Array): void {
    this.checkLive();
    const count = countRunEntries(bytes);
    const at = this.reserve(bytes.length);
    this.buffer.set(bytes, at);
    this.byteLength = at + bytes.length;
    this.count += count;
  }

  append(key: Uint8Array, value: Uint8Array): void {
    const at = this.reserve(8 + key.length + value.length);
    this.view.setUint32(at, key.length, true);
    this.view.setUint32(at + 4, value.length, true);
    this.buffer.set(key, at + 8);
    this.buffer.set(value, at + 8 + key.length);
    this.byteLength = at + 8 + key.length + value.length;
    this.count++;
  }
}

/** Narrows a Run given to the pure core to its own class (a WASM run is a caller bug). */
export function asPureRun(run: Run): PureRun {
  if (!(run instanceof PureRun)) throw invalidArgument("run belongs to another core");
  run.checkLive();
  return run;
}

export function pureRun() {
  return { newRun: (capacityBytes?: number): Run => new PureRun(capacityBytes) };
}
