/**
 * `pgz dump <file>`: decodes any pgz file by its name or magic (layouts in docs/FORMAT.md) and
 * describes it line by line: the superblock's copies, the manifest's edits, a table's footer,
 * index, blocks and entries, a value-log segment's header and records. The dump reads the
 * bytes itself (it never opens the database), so it works on a copy of a single file.
 *
 * Damage is reported, never thrown past the caller as a stack: a file that is no pgz file, or
 * whose structure cannot be walked, throws PgzError PGZ_CORRUPTION; damage found part way
 * through is printed as a `PGZ_CORRUPTION ...` line after what decoded, and `ok` is false.
 */
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { bytesEqual, magicBytes, toHex, viewOf } from "../bytes.ts";
import { createCore } from "../core/index.ts";
import { kindOf, sequenceOf, userKeyOf } from "../core/entry.ts";
import { KIND_DELETE, KIND_POINTER, KIND_VALUE, type Core, type CoreName } from "../core/types.ts";
import { PgzError, corruption } from "../errors.ts";
import {
  FILE_LOCK,
  FILE_SUPERBLOCK,
  FOOTER_BYTES,
  FORMAT_VERSION,
  MAGIC_MANIFEST_RECORD,
  MAGIC_SEGMENT,
  MAGIC_SUPERBLOCK,
  MAGIC_TABLE,
  PAGE_SIZE,
  RECORD_DELETE,
  RECORD_FLAG_BATCH_END,
  RECORD_PADDING,
  RECORD_PUT,
  SEGMENT_HEADER_BYTES,
  SUPERBLOCK_COPIES,
  manifestFileName,
} from "../format.ts";
import { decodeLockOwner } from "../storage/lock.ts";
import { decodeEdit, type VersionEdit } from "../lsm/version.ts";
import { decodeSuperblock, formatVersionMismatch, type SuperblockCopy } from "../lsm/superblock.ts";
import { decodeFooter, decodeIndex, footerOffsetOf, type TableFooter } from "../lsm/sstable.ts";
import { openStoredBlock, type BlockHandle } from "../lsm/table-block.ts";
import { decodeRecord, decodeSegmentHeader, recordStart } from "../vlog/record.ts";

const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/** The bytes as UTF-8 text if they are valid and printable (no control characters), else undefined. */
export function printableText(bytes: Uint8Array): string | undefined {
  let text: string;
  try {
    text = strictDecoder.decode(bytes);
  } catch {
    return undefined;
  }
  // Control characters would break the one-entry-per-line output (and hide bytes).
  return /[\u0000-\u001f\u007f]/.test(text) ? undefined : text;
}

/** Text when printable, else `0x` and hex: how keys and values appear in text output. */
export function displayBytes(bytes: Uint8Array): string {
  const text = printableText(bytes);
  return text === undefined ? `0x${toHex(bytes)}` : JSON.stringify(text);
}

export type FileKind = "superblock" | "manifest" | "table" | "segment" | "lock";

export interface DumpOptions {
  core?: CoreName;
  /** List every table entry and log record's key (not only the summaries). */
  entries?: boolean;
  write: (line: string) => void;
}

export interface DumpResult {
  kind: FileKind;
  /** False when damage was found (and printed) part way through. */
  ok: boolean;
}

const hasMagicAt = (bytes: Uint8Array, offset: number, magic: string) =>
  offset >= 0 && offset + magic.length <= bytes.length && bytesEqual(bytes.subarray(offset, offset + magic.length), magicBytes(magic));

/** The kind of a pgz file, by its name first, then by its magic; undefined if neither fits. */
export function detectKind(name: string, bytes: Uint8Array): FileKind | undefined {
  if (name === FILE_SUPERBLOCK) return "superblock";
  if (name === FILE_LOCK) return "lock";
  if (/^MANIFEST-\d+$/.test(name)) return "manifest";
  if (/^\d+\.sst$/.test(name)) return "table";
  if (/^\d+\.vlog$/.test(name)) return "segment";
  if (hasMagicAt(bytes, 0, MAGIC_SUPERBLOCK)) return "superblock";
  if (hasMagicAt(bytes, 0, MAGIC_SEGMENT)) return "segment";
  if (bytes.length >= 8 && viewOf(bytes).getUint32(4, true) === MAGIC_MANIFEST_RECORD) return "manifest";
  if (bytes.length >= PAGE_SIZE && bytes.length % PAGE_SIZE === 0 && hasMagicAt(bytes, bytes.length - PAGE_SIZE, MAGIC_TABLE)) return "table";
  return undefined;
}

/** Dumps the file at `path`; throws PgzError (PGZ_IO, PGZ_CORRUPTION) when it cannot be read at all. */
export function dumpFile(path: string, options: DumpOptions): DumpResult {
  const name = basename(path);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new PgzError("PGZ_IO", `cannot read ${path}: ${(error as { code?: string }).code ?? String(error)}`, { file: path, cause: error });
  }
  const kind = detectKind(name, bytes);
  if (kind === undefined) throw corruption("not a pgz file (no known file name or magic)", { file: name, offset: 0 });
  const core = createCore(options.core ?? "wasm");
  options.write(`${name}: ${kind}, ${bytes.length} bytes`);
  const dumpers: Record<FileKind, () => boolean> = {
    superblock: () => dumpSuperblock(core, bytes, name, options),
    manifest: () => dumpManifest(core, bytes, name, options),
    table: () => dumpTable(core, bytes, name, options),
    segment: () => dumpSegment(core, bytes, name, options),
    lock: () => dumpLock(bytes, options),
  };
  return { kind, ok: dumpers[kind]() };
}

/** Both copies, valid or not, and which one wins (the valid one with the highest sequence). */
function dumpSuperblock(core: Core, bytes: Uint8Array, name: string, options: DumpOptions): boolean {
  let best: SuperblockCopy | undefined;
  let damaged = 0;
  for (let copy = 0; copy < SUPERBLOCK_COPIES; copy++) {
    const decoded = decodeSuperblock(core, bytes.subarray(copy * PAGE_SIZE, (copy + 1) * PAGE_SIZE), copy);
    if (!decoded) {
      damaged++;
      options.write(`copy ${copy} @${copy * PAGE_SIZE}: invalid (checksum or magic mismatch)`);
      continue;
    }
    const manifest = manifestFileName(decoded.manifestNumber);
    options.write(`copy ${copy} @${copy * PAGE_SIZE}: format ${decoded.formatVersion}, sequence ${decoded.sequence}, manifest ${manifest}, database ${toHex(decoded.databaseId)}`);
    if (!best || decoded.sequence > best.sequence) best = decoded;
  }
  if (!best) throw corruption(`${name} has no valid superblock copy`, { file: name, offset: 0 });
  options.write(`current: copy ${best.copy} (sequence ${best.sequence}) -> ${manifestFileName(best.manifestNumber)}`);
  if (damaged > 0) options.write(`PGZ_CORRUPTION ${name} ${damaged} damaged copy(ies): open repairs them from the current one`);
  if (best.formatVersion !== FORMAT_VERSION) {
    options.write(`PGZ_CORRUPTION ${name} ${best.copy * PAGE_SIZE + 8} ${formatVersionMismatch(best.formatVersion, name, 0).message}`);
    return false;
  }
  return damaged === 0;
}

function describeEdit(edit: VersionEdit): string {
  const parts: string[] = [];
  if (edit.snapshot) parts.push(`snapshot (format ${edit.formatVersion})`);
  for (const { level, table } of edit.added ?? []) {
    parts.push(`+L${level} ${String(table.fileNumber).padStart(6, "0")}.sst (${table.entries} entries, ${table.size} B, ${displayBytes(userKeyOf(table.smallest))}..${displayBytes(userKeyOf(table.largest))})`);
  }
  for (const { level, fileNumber } of edit.removed ?? []) parts.push(`-L${level} ${String(fileNumber).padStart(6, "0")}.sst`);
  // Fields a newer engine may add (value-log GC accounting) are shown when present.
  const extra = edit as { discardedLogBytes?: Record<string, number>; collectedSegments?: number[] };
  for (const [segment, bytes] of Object.entries(extra.discardedLogBytes ?? {})) parts.push(`discarded ${bytes} B in segment ${segment}`);
  if (extra.collectedSegments?.length) parts.push(`collected segments ${extra.collectedSegments.join(" ")}`);
  if (edit.logHead) parts.push(`logHead ${edit.logHead.segment}:${edit.logHead.offset}`);
  if (edit.nextFileNumber !== undefined) parts.push(`nextFileNumber ${edit.nextFileNumber}`);
  if (edit.lastSequence !== undefined) parts.push(`lastSequence ${edit.lastSequence}`);
  return parts.join(", ");
}

/** Every edit in order; replay (and this dump) stops at the first page that starts no valid edit. */
function dumpManifest(core: Core, bytes: Uint8Array, name: string, options: DumpOptions): boolean {
  let offset = 0;
  let count = 0;
  while (true) {
    const decoded = decodeEdit(core, bytes, offset, name);
    if (!decoded) break;
    options.write(`edit ${count} @${offset}: ${describeEdit(decoded.edit)}`);
    count++;
    offset = decoded.next;
  }
  if (count === 0) throw corruption(`${name} has no valid manifest edit`, { file: name, offset: 0 });
  options.write(`${count} edits, ${offset} bytes used`);
  return reportTail(bytes, offset, name, "after the last valid edit (replay ignores it)", options);
}

/** A non-zero tail past the last valid record is damage (or a torn, never acknowledged append). */
function reportTail(bytes: Uint8Array, end: number, name: string, what: string, options: DumpOptions): boolean {
  let firstNonZero = -1;
  for (let i = end; i < bytes.length; i++) {
    if (bytes[i] !== 0) {
      firstNonZero = i;
      break;
    }
  }
  if (firstNonZero < 0) return true;
  options.write(`PGZ_CORRUPTION ${name} ${end} damaged or torn bytes ${what}`);
  return false;
}

const KIND_NAMES: Record<number, string> = { [KIND_DELETE]: "delete", [KIND_VALUE]: "value", [KIND_POINTER]: "pointer" };

/** The table's footer, through the engine's one footer decoder (ts/lsm/sstable.ts). */
function readFooter(core: Core, bytes: Uint8Array, name: string): TableFooter {
  const footerOffset = footerOffsetOf(bytes.length, name);
  return decodeFooter(core, bytes.subarray(footerOffset, footerOffset + FOOTER_BYTES), name, footerOffset);
}

/** Footer, index, each data block (entries, first and last key), and an entry summary. */
function dumpTable(core: Core, bytes: Uint8Array, name: string, options: DumpOptions): boolean {
  const footer = readFooter(core, bytes, name);
  const filterActual = core.crc32cMask(core.crc32c(bytes.subarray(footer.filterOffset, footer.filterOffset + footer.filterLength)));
  const filterOk = filterActual === footer.filterChecksum;
  options.write(
    `footer @${bytes.length - PAGE_SIZE}: format ${FORMAT_VERSION}, database ${toHex(footer.databaseId)}, table ${footer.fileNumber}, ${footer.entries} entries, ${footer.blockCount} data blocks, ` +
      `index @${footer.indexOffset} (${footer.indexLength} B), filter @${footer.filterOffset} (${footer.filterLength} B, checksum ${filterOk ? "ok" : "MISMATCH"})`,
  );
  // The engine's one index decoder (ts/lsm/sstable.ts): handles in order, inside the data blocks.
  const handles = decodeIndex(core, bytes.subarray(footer.indexOffset, footer.indexOffset + footer.indexLength), name, footer.indexOffset, footer.indexOffset);
  options.write(`index: ${handles.length} block handles`);
  let ok = filterOk;
  if (!filterOk) options.write(`PGZ_CORRUPTION ${name} ${footer.filterOffset} bloom filter checksum mismatch`);
  if (handles.length !== footer.blockCount) {
    ok = false;
    options.write(`PGZ_CORRUPTION ${name} ${footer.indexOffset} the index has ${handles.length} blocks, the footer says ${footer.blockCount}`);
  }
  const named = /^(\d+)\.sst$/.exec(name);
  if (named && Number(named[1]) !== footer.fileNumber) {
    ok = false;
    options.write(`PGZ_CORRUPTION ${name} ${bytes.length - PAGE_SIZE} the footer names table ${footer.fileNumber}: this file was renamed or copied`);
  }
  const tally: BlockTally = { ok, kinds: new Map(), entries: 0, sequenceMin: Infinity, sequenceMax: -Infinity, smallest: undefined };
  handles.forEach((handle, index) => dumpBlock(core, bytes, name, options, handle, index, tally));
  return checkTableTally(core, bytes.length, name, footer, tally, options);
}

/** What the blocks of a table hold, summed as dumpBlock goes. */
interface BlockTally {
  ok: boolean;
  kinds: Map<number, number>;
  entries: number;
  sequenceMin: number;
  sequenceMax: number;
  smallest: Uint8Array | undefined;
}

/** One data block: its entries (with options.entries), then a line with its count, first and last key. */
function dumpBlock(core: Core, bytes: Uint8Array, name: string, options: DumpOptions, handle: BlockHandle, index: number, tally: BlockTally): void {
  let reader;
  try {
    reader = openStoredBlock(core, bytes.subarray(handle.offset, handle.offset + handle.length), handle.rawLength);
  } catch (error) {
    tally.ok = false;
    options.write(`PGZ_CORRUPTION ${name} ${handle.offset} block ${index}: ${(error as Error).message}`);
    return;
  }
  try {
    let first: Uint8Array | undefined;
    let last: Uint8Array | undefined;
    let count = 0;
    for (let valid = reader.first(); valid; valid = reader.next()) {
      const key = reader.key();
      first ??= key;
      last = key;
      count++;
      const sequence = sequenceOf(key);
      tally.kinds.set(kindOf(key), (tally.kinds.get(kindOf(key)) ?? 0) + 1);
      tally.sequenceMin = Math.min(tally.sequenceMin, sequence);
      tally.sequenceMax = Math.max(tally.sequenceMax, sequence);
      if (options.entries) {
        const value = reader.value();
        const shown = kindOf(key) === KIND_VALUE ? displayBytes(value) : kindOf(key) === KIND_POINTER ? `pointer 0x${toHex(value)}` : "";
        options.write(`  ${displayBytes(userKeyOf(key))} @${sequence} ${KIND_NAMES[kindOf(key)] ?? `kind ${kindOf(key)}`} ${shown}`.trimEnd());
      }
    }
    tally.entries += count;
    tally.smallest ??= first;
    const describe = (key: Uint8Array | undefined) => (key ? `${displayBytes(userKeyOf(key))}@${sequenceOf(key)}` : "-");
    const stored = handle.rawLength === 0 ? `${handle.length} B` : `${handle.length} B, lz4 of ${handle.rawLength} B`;
    options.write(`block ${index} @${handle.offset} (${stored}): ${count} entries, first ${describe(first)}, last ${describe(last)}`);
  } finally {
    reader.free();
  }
}

/** The entry summary, and whether the blocks agree with the footer's entry count and smallest key. */
function checkTableTally(core: Core, size: number, name: string, footer: TableFooter, tally: BlockTally, options: DumpOptions): boolean {
  const { entries, kinds, sequenceMin, sequenceMax, smallest } = tally;
  const byKind = [...kinds].map(([kind, count]) => `${KIND_NAMES[kind] ?? `kind ${kind}`} ${count}`).join(", ");
  options.write(`entries: ${entries} (${byKind || "none"}), sequences ${entries ? `${sequenceMin}..${sequenceMax}` : "-"}`);
  if (entries !== footer.entries && tally.ok) {
    tally.ok = false;
    options.write(`PGZ_CORRUPTION ${name} ${size - PAGE_SIZE} the blocks hold ${entries} entries, the footer says ${footer.entries}`);
  }
  if (smallest && core.crc32cMask(core.crc32c(smallest)) !== footer.smallestKeyChecksum && tally.ok) {
    tally.ok = false;
    options.write(`PGZ_CORRUPTION ${name} ${size - PAGE_SIZE} the first key does not match the footer's smallest key checksum`);
  }
  return tally.ok;
}

const RECORD_NAMES: Record<number, string> = { [RECORD_PUT]: "put", [RECORD_DELETE]: "delete", [RECORD_PADDING]: "padding" };

/** The header, then every record (puts, deletes, padding) up to the first invalid one. */
function dumpSegment(core: Core, bytes: Uint8Array, name: string, options: DumpOptions): boolean {
  if (bytes.length < SEGMENT_HEADER_BYTES) throw corruption(`segment of ${bytes.length} bytes is shorter than its header`, { file: name, offset: 0 });
  if (!hasMagicAt(bytes, 0, MAGIC_SEGMENT)) throw corruption("bad segment magic", { file: name, offset: 0 });
  const { segment, databaseId } = decodeSegmentHeader(core, bytes.subarray(0, SEGMENT_HEADER_BYTES), name);
  options.write(`header: format ${viewOf(bytes).getUint32(8, true)}, segment ${segment}, database ${toHex(databaseId)}`);
  let position = SEGMENT_HEADER_BYTES;
  let end = position;
  const counts = new Map<number, number>();
  let batches = 0;
  while (true) {
    position = recordStart(position);
    if (position >= bytes.length) break;
    const record = decodeRecord(core, bytes, 0, position);
    if (!record) break;
    counts.set(record.type, (counts.get(record.type) ?? 0) + 1);
    if (record.flags & RECORD_FLAG_BATCH_END) batches++;
    if (options.entries && record.type !== RECORD_PADDING) {
      const batchEnd = record.flags & RECORD_FLAG_BATCH_END ? " batch-end" : "";
      options.write(`  @${record.offset} ${RECORD_NAMES[record.type] ?? `type ${record.type}`} seq ${record.sequence} key ${displayBytes(record.key)} value ${record.value.length} B${batchEnd}`);
    }
    position += record.length;
    end = position;
  }
  const byType = [...counts].map(([type, count]) => `${RECORD_NAMES[type] ?? `type ${type}`} ${count}`).join(", ");
  options.write(`records: ${byType || "none"}; ${batches} batches; valid up to offset ${end}`);
  return reportTail(bytes, end, name, "after the last valid record", options);
}

function dumpLock(bytes: Uint8Array, options: DumpOptions): boolean {
  const owner = decodeLockOwner(bytes);
  if (!owner) options.write(`names no owner: ${JSON.stringify(new TextDecoder().decode(bytes))}`);
  else options.write(`held by process ${owner.pid} (start time ${owner.startTime || "unknown"}, open ${owner.nonce || "unknown"})`);
  return true;
}
