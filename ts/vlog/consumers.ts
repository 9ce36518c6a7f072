/**
 * The durable record of named change-stream consumers (file CONSUMERS, layout in ts/format.ts
 * and docs/FORMAT.md): for each, the sequence it has acknowledged and the first log segment its
 * next batch may be in. Segment deletion keeps every segment from there on, so the consumer can
 * resume after any restart. Replaced whole (written aside, synced, renamed), so a crash leaves
 * the old record or the new one.
 */
import { getUint64, magicBytes, setUint64, viewOf, bytesEqual } from "../bytes.ts";
import type { Core } from "../core/types.ts";
import { corruption, invalidArgument } from "../errors.ts";
import {
  CONSUMER_ENTRY_FIXED_BYTES,
  CONSUMER_NAME_BYTES_MAX,
  CONSUMERS_HEADER_BYTES,
  CONSUMERS_MAX,
  FILE_CONSUMERS,
  FORMAT_VERSION,
  MAGIC_CONSUMERS,
  PAGE_SIZE,
  TEMPORARY_SUFFIX,
} from "../format.ts";
import type { Storage } from "../storage/io.ts";

export interface ConsumerRecord {
  name: string;
  /** Every batch up to this sequence is applied by the consumer. */
  sequence: number;
  /** The log segment its next batch starts in or after: this one and every later one are kept. */
  segment: number;
}

const NAME_PATTERN = /^[A-Za-z0-9._-]+$/;

/** A consumer name is 1 to CONSUMER_NAME_BYTES_MAX characters of [A-Za-z0-9._-]. */
export function checkConsumerName(name: unknown): string {
  if (typeof name !== "string" || name.length === 0 || name.length > CONSUMER_NAME_BYTES_MAX || !NAME_PATTERN.test(name)) {
    throw invalidArgument(`a consumer name must be 1 to ${CONSUMER_NAME_BYTES_MAX} characters of A-Z, a-z, 0-9, ".", "_" and "-", got ${JSON.stringify(name)}`);
  }
  return name;
}

/**
 *   0   8  magic | 8  4  version | 12  4  count
 *   16  .. entries: u8 name length, name, u64 sequence, u32 segment
 *   end 4  masked CRC32C of [0, end); zeros to the page end
 */
export function encodeConsumers(core: Core, consumers: readonly ConsumerRecord[]): Uint8Array {
  if (consumers.length > CONSUMERS_MAX) throw invalidArgument(`at most ${CONSUMERS_MAX} change consumers; release one first (db.releaseConsumer)`);
  const page = new Uint8Array(PAGE_SIZE);
  const view = viewOf(page);
  page.set(magicBytes(MAGIC_CONSUMERS), 0);
  view.setUint32(8, FORMAT_VERSION, true);
  view.setUint32(12, consumers.length, true);
  let at = CONSUMERS_HEADER_BYTES;
  for (const consumer of consumers) {
    page[at] = consumer.name.length;
    for (let i = 0; i < consumer.name.length; i++) page[at + 1 + i] = consumer.name.charCodeAt(i);
    at += 1 + consumer.name.length;
    setUint64(view, at, consumer.sequence);
    view.setUint32(at + 8, consumer.segment, true);
    at += CONSUMER_ENTRY_FIXED_BYTES - 1;
  }
  view.setUint32(at, core.crc32cMask(core.crc32c(page.subarray(0, at))), true);
  return page;
}

export function decodeConsumers(core: Core, page: Uint8Array): ConsumerRecord[] {
  const fail = (message: string, offset: number) => corruption(message, { file: FILE_CONSUMERS, offset });
  if (page.length < CONSUMERS_HEADER_BYTES + 4) throw fail("consumer record shorter than its header", 0);
  const view = viewOf(page);
  if (!bytesEqual(page.subarray(0, 8), magicBytes(MAGIC_CONSUMERS))) throw fail("bad consumer record magic", 0);
  if (view.getUint32(8, true) !== FORMAT_VERSION) throw fail(`unsupported consumer record format version ${view.getUint32(8, true)}`, 8);
  const count = view.getUint32(12, true);
  if (count > CONSUMERS_MAX) throw fail(`consumer record lists ${count} consumers`, 12);
  const consumers: ConsumerRecord[] = [];
  let at = CONSUMERS_HEADER_BYTES;
  for (let index = 0; index < count; index++) {
    const nameLength = page[at] ?? 0;
    if (nameLength === 0 || at + CONSUMER_ENTRY_FIXED_BYTES + nameLength + 4 > page.length) throw fail("consumer entry out of bounds", at);
    const name = String.fromCharCode(...page.subarray(at + 1, at + 1 + nameLength));
    at += 1 + nameLength;
    consumers.push({ name, sequence: getUint64(view, at), segment: view.getUint32(at + 8, true) });
    at += CONSUMER_ENTRY_FIXED_BYTES - 1;
  }
  const stored = view.getUint32(at, true);
  const actual = core.crc32cMask(core.crc32c(page.subarray(0, at)));
  if (stored !== actual) throw corruption("consumer record checksum mismatch", { file: FILE_CONSUMERS, offset: at, expected: stored, actual });
  for (const consumer of consumers) if (!NAME_PATTERN.test(consumer.name)) throw fail(`bad consumer name ${JSON.stringify(consumer.name)}`, 0);
  return consumers;
}

/** The consumers on disk; none if the file does not exist. */
export function readConsumers(core: Core, storage: Storage): ConsumerRecord[] {
  const page = storage.readSmallFile(FILE_CONSUMERS);
  return page === undefined ? [] : decodeConsumers(core, page);
}

/** Replaces the record durably (no consumers: the file is removed). */
export function writeConsumers(core: Core, storage: Storage, consumers: readonly ConsumerRecord[]): void {
  if (consumers.length === 0) {
    storage.remove(FILE_CONSUMERS);
    storage.syncDirectory();
    return;
  }
  const page = encodeConsumers(core, consumers);
  const temporary = FILE_CONSUMERS + TEMPORARY_SUFFIX;
  const file = storage.open(temporary, { write: true, create: true });
  try {
    file.truncate(0);
    file.write(page, 0);
    file.sync();
  } finally {
    file.close();
  }
  storage.rename(temporary, FILE_CONSUMERS);
  storage.syncDirectory();
}
