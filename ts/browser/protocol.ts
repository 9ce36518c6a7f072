/**
 * Messages between the page's proxy (ts/browser/proxy.ts) and the worker that runs the database
 * (ts/browser/host.ts). The proxy sends every call made in one task as one message, and the
 * worker answers them in one message, so `Promise.all(keys.map((key) => db.get(key)))` is one
 * round trip, not one per key, and its values travel packed in one buffer.
 */
import { PgzError, type PgzErrorCode } from "../errors.ts";

export interface Call {
  id: number;
  method: string;
  args: unknown[];
}

export interface SerializedError {
  name: string;
  message: string;
  code?: PgzErrorCode;
  file?: string;
  offset?: number;
}

/**
 * A reply's value, or for a point read (get, getMany, snapshotGet, transactionGet) `packed`: the
 * index of its value in the message's value pack (-1: none), one per key for getMany.
 */
export type Reply = { id: number; value: unknown } | { id: number; packed: number | number[] } | { id: number; error: SerializedError };

export interface CallsMessage {
  calls: Call[];
}

export interface RepliesMessage {
  replies: Reply[];
  /** The values of the message's point reads, in one buffer. */
  values?: ValuePack;
  /** Buffers moved, not copied, to the page (iterator chunks, the value pack). */
  transfer?: ArrayBuffer[];
}

/**
 * Values packed into one buffer: value i is bytes[offsets[i], offsets[i + 1]). A message's point
 * reads move to the page as one buffer instead of one cloned buffer (and one copy) per value,
 * which in Chromium costs microseconds each.
 */
export interface ValuePack {
  bytes: Uint8Array;
  offsets: Uint32Array;
}

/**
 * A run of iterator entries packed into one buffer: entry i's key is bytes[offsets[2i],
 * offsets[2i+1]) and its value bytes[offsets[2i+1], offsets[2i+2]). One buffer is moved to the
 * page instead of two objects cloned per entry.
 */
export interface EntryChunk {
  bytes: Uint8Array;
  offsets: Uint32Array;
  done: boolean;
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof PgzError) {
    return { name: error.name, message: error.message, code: error.code, file: error.file, offset: error.offset };
  }
  const value = error as { name?: string; message?: string };
  return { name: value?.name ?? "Error", message: value?.message ?? String(error) };
}

export function deserializeError(error: SerializedError): Error {
  if (error.code) return new PgzError(error.code, error.message, { file: error.file, offset: error.offset });
  const result = new Error(error.message);
  result.name = error.name;
  return result;
}

/** Packs entries until `bytesMax` (at least one entry) into one chunk. */
export function packEntries(entries: Iterator<[Uint8Array, Uint8Array]>, entriesMax: number, bytesMax: number): EntryChunk {
  const taken: Uint8Array[] = [];
  let bytes = 0;
  let done = false;
  while (taken.length < entriesMax * 2 && bytes < bytesMax) {
    const next = entries.next();
    if (next.done) {
      done = true;
      break;
    }
    taken.push(next.value[0], next.value[1]);
    bytes += next.value[0].length + next.value[1].length;
  }
  const packed = new Uint8Array(bytes);
  const offsets = new Uint32Array(taken.length + 1);
  let at = 0;
  for (let index = 0; index < taken.length; index++) {
    packed.set(taken[index]!, at);
    at += taken[index]!.length;
    offsets[index + 1] = at;
  }
  return { bytes: packed, offsets, done };
}

export function unpackEntries(chunk: EntryChunk): [Uint8Array, Uint8Array][] {
  const entries: [Uint8Array, Uint8Array][] = [];
  const { bytes, offsets } = chunk;
  for (let index = 0; index + 2 < offsets.length; index += 2) {
    entries.push([bytes.subarray(offsets[index]!, offsets[index + 1]!), bytes.subarray(offsets[index + 1]!, offsets[index + 2]!)]);
  }
  return entries;
}

/** Packs `values` into one buffer; returns it and each value's index in it (-1 for undefined). */
export function packValues(values: readonly (Uint8Array | undefined)[]): { pack: ValuePack; indexes: number[] } {
  let bytes = 0;
  for (const value of values) bytes += value?.length ?? 0;
  const packed = new Uint8Array(bytes);
  const offsets = new Uint32Array(values.length + 1);
  const indexes: number[] = [];
  let at = 0;
  let count = 0;
  for (const value of values) {
    if (value === undefined) {
      indexes.push(-1);
      continue;
    }
    packed.set(value, at);
    at += value.length;
    indexes.push(count);
    offsets[++count] = at;
  }
  return { pack: { bytes: packed, offsets: offsets.subarray(0, count + 1) }, indexes };
}

/** Value `index` of a pack (a view into its buffer), or undefined for -1. */
export function unpackValue(pack: ValuePack, index: number): Uint8Array | undefined {
  return index < 0 ? undefined : pack.bytes.subarray(pack.offsets[index]!, pack.offsets[index + 1]!);
}
