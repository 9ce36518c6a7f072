/**
 * The manifest (layout in ts/format.ts, docs/FORMAT.md): a log of version edits (ts/lsm/version.ts)
 * whose replay gives the table set per level, the value-log head (where recovery replays from),
 * the next file number and the last sequence; the superblock (ts/lsm/superblock.ts) names the
 * current one. Every edit is synced before it counts, or, with the background worker, before
 * anything that depends on it happens (syncInBackground).
 */
import { viewOf } from "../bytes.ts";
import type { Core } from "../core/types.ts";
import { corruption } from "../errors.ts";
import { FileWindow, isAllZero } from "../storage/file-window.ts";
import {
  FILE_SUPERBLOCK,
  FORMAT_VERSION,
  MAGIC_MANIFEST_RECORD,
  MANIFEST_BYTES_MAX,
  MANIFEST_REWRITE_BYTES_MIN,
  MANIFEST_FILE_BYTES_MAX,
  MANIFEST_PAYLOAD_BYTES_MAX,
  MANIFEST_RECORD_HEADER_BYTES,
  PAGE_SIZE,
  SUPERBLOCK_COPIES,
  manifestFileName,
  parseFileName,
} from "../format.ts";
import { writeFileAtomically, type Storage, type StorageFile } from "../storage/io.ts";
import { applyEdit, decodeEdit, emptyState, encodeEdit, stateProblem, type VersionEdit, type VersionState } from "./version.ts";
import { decodeSuperblock, encodeSuperblock, formatVersionMismatch, newDatabaseId, type SuperblockCopy } from "./superblock.ts";

/** Reads and decodes the edit at `offset` of a manifest read through `window`. */
function readEdit(core: Core, window: FileWindow, offset: number): { edit: VersionEdit; next: number } | undefined {
  const header = window.view(offset, MANIFEST_RECORD_HEADER_BYTES);
  if (header.length < MANIFEST_RECORD_HEADER_BYTES || viewOf(header).getUint32(4, true) !== MAGIC_MANIFEST_RECORD) return undefined;
  const length = viewOf(header).getUint32(8, true);
  if (length > MANIFEST_PAYLOAD_BYTES_MAX) return undefined;
  return decodeEdit(core, window.view(offset, MANIFEST_RECORD_HEADER_BYTES + length), offset, window.name, offset);
}

/**
 * Replays a manifest through a bounded window: the state and where the valid records end. A
 * torn append is the last thing in the file; a valid record after a bad one is damage.
 */
function replayManifest(core: Core, window: FileWindow, manifestNumber: number): { state: VersionState; end: number } {
  const name = window.name;
  if (window.size > MANIFEST_FILE_BYTES_MAX) {
    throw corruption(`manifest of ${window.size} bytes, larger than pgz ever writes`, { file: name, offset: MANIFEST_FILE_BYTES_MAX });
  }
  const state = emptyState();
  let offset = 0;
  for (let decoded = readEdit(core, window, 0); decoded; decoded = readEdit(core, window, offset)) {
    if (offset === 0 && !decoded.edit.snapshot) throw corruption("manifest does not start with a snapshot", { file: name, offset });
    if (offset === 0 && decoded.edit.formatVersion !== FORMAT_VERSION) throw formatVersionMismatch(decoded.edit.formatVersion ?? 0, name, offset);
    applyEdit(state, decoded.edit);
    offset = decoded.next;
  }
  if (offset === 0) throw corruption("manifest has no valid snapshot record", { file: name, offset: 0 });
  for (let later = offset + PAGE_SIZE; later < window.size; later += PAGE_SIZE) {
    let valid: boolean;
    try {
      valid = readEdit(core, window, later) !== undefined;
    } catch {
      valid = true;
    }
    if (valid) throw corruption("damaged manifest record before later valid ones", { file: name, offset });
  }
  const problem = stateProblem(state, manifestNumber);
  if (problem) throw corruption(`manifest state is inconsistent: ${problem}`, { file: name, offset: 0 });
  return { state, end: offset };
}

/** Whether manifest 1 is what a crash inside create() leaves: empty, zeros, or the empty snapshot. */
function isInterruptedCreate(core: Core, storage: Storage, name: string): boolean {
  const file = storage.open(name);
  try {
    const window = new FileWindow(file);
    if (window.size > PAGE_SIZE) return false;
    const page = window.view(0, PAGE_SIZE);
    if (isAllZero(page)) return true;
    let decoded: ReturnType<typeof decodeEdit>;
    try {
      decoded = decodeEdit(core, page, 0, name);
    } catch {
      return false;
    }
    if (!decoded || !decoded.edit.snapshot) return false;
    const state = emptyState();
    applyEdit(state, decoded.edit);
    const empty = emptyState();
    empty.nextFileNumber = 2;
    return JSON.stringify(state) === JSON.stringify(empty);
  } finally {
    file.close();
  }
}

export interface ManifestGeneration {
  superblockSequence: number;
  manifestNumber: number;
  /** The manifest file's size when it was read: an append makes it larger. */
  bytes: number;
}

/** The current generation on disk, read without writing; undefined while it cannot be read (a rewrite is under way). */
export function readGeneration(core: Core, storage: Storage): ManifestGeneration | undefined {
  let best: SuperblockCopy | undefined;
  const superblockFile = storage.open(FILE_SUPERBLOCK);
  try {
    for (let copy = 0; copy < SUPERBLOCK_COPIES; copy++) {
      const page = new Uint8Array(PAGE_SIZE);
      superblockFile.read(page, copy * PAGE_SIZE);
      const decoded = decodeSuperblock(core, page, copy);
      if (decoded && (!best || decoded.sequence > best.sequence)) best = decoded;
    }
  } finally {
    superblockFile.close();
  }
  if (!best) return undefined;
  const name = manifestFileName(best.manifestNumber);
  if (!storage.exists(name)) return undefined;
  const file = storage.open(name);
  try {
    return { superblockSequence: best.sequence, manifestNumber: best.manifestNumber, bytes: file.size() };
  } finally {
    file.close();
  }
}

export function sameGeneration(a: ManifestGeneration, b: ManifestGeneration | undefined): boolean {
  return b !== undefined && a.superblockSequence === b.superblockSequence && a.manifestNumber === b.manifestNumber && a.bytes === b.bytes;
}

export class Manifest {
  private file: StorageFile;
  private end: number;
  private superblockSequence: number;
  private manifestNumber: number;
  readonly state: VersionState;
  /** The id every table footer and segment header of this database repeats (DATABASE_ID_BYTES). */
  readonly databaseId: Uint8Array;
  editsWritten = 0;
  /** The superblock copy and manifest bytes an open read (Manifest.open); a reader compares it with sameGeneration. */
  generation: ManifestGeneration = { superblockSequence: -1, manifestNumber: -1, bytes: -1 };

  private constructor(
    private readonly core: Core,
    private readonly storage: Storage,
    opened: { file: StorageFile; end: number; superblockSequence: number; manifestNumber: number; state: VersionState; databaseId: Uint8Array },
  ) {
    this.databaseId = opened.databaseId;
    this.file = opened.file;
    this.end = opened.end;
    this.superblockSequence = opened.superblockSequence;
    this.manifestNumber = opened.manifestNumber;
    this.state = opened.state;
  }

  static exists(storage: Storage): boolean {
    return storage.exists(FILE_SUPERBLOCK);
  }

  /**
   * A new database: manifest 1 with an empty snapshot, then both superblock copies. A backup
   * (ts/api/backup.ts) passes the state and id it copies, and the manifest number to use.
   */
  static create(core: Core, storage: Storage, from?: { state: VersionState; databaseId: Uint8Array; manifestNumber: number }): Manifest {
    const state = from ? structuredClone(from.state) : emptyState();
    const manifestNumber = from ? from.manifestNumber : state.nextFileNumber++;
    if (from) state.nextFileNumber = Math.max(state.nextFileNumber, manifestNumber + 1);
    const databaseId = from ? from.databaseId : newDatabaseId();
    const file = writeNewManifest(core, storage, manifestNumber, state);
    const superblock = new Uint8Array(PAGE_SIZE * SUPERBLOCK_COPIES);
    for (let copy = 0; copy < SUPERBLOCK_COPIES; copy++) superblock.set(encodeSuperblock(core, copy, manifestNumber, databaseId), copy * PAGE_SIZE);
    try {
      writeFileAtomically(storage, FILE_SUPERBLOCK, superblock);
    } catch (error) {
      file.close();
      throw error;
    }
    return new Manifest(core, storage, { file, end: file.size(), superblockSequence: SUPERBLOCK_COPIES - 1, manifestNumber, state, databaseId });
  }

  /**
   * Opens the current manifest. `readOnly` (a reader beside a live writer) repairs nothing and
   * opens every file read-only; generation says which manifest bytes the state came from.
   */
  static open(core: Core, storage: Storage, options: { readOnly?: boolean } = {}): Manifest {
    const readOnly = options.readOnly === true;
    const superblockFile = storage.open(FILE_SUPERBLOCK, { write: !readOnly });
    let best: SuperblockCopy | undefined;
    const damaged: number[] = [];
    try {
      for (let copy = 0; copy < SUPERBLOCK_COPIES; copy++) {
        const page = new Uint8Array(PAGE_SIZE);
        superblockFile.read(page, copy * PAGE_SIZE);
        const decoded = decodeSuperblock(core, page, copy);
        if (!decoded) damaged.push(copy);
        else if (!best || decoded.sequence > best.sequence) best = decoded;
      }
      if (!best) throw corruption("no valid superblock copy", { file: FILE_SUPERBLOCK, offset: 0 });
      // Checked before any repair: a database of another version is left exactly as it is.
      if (best.formatVersion !== FORMAT_VERSION) throw formatVersionMismatch(best.formatVersion, FILE_SUPERBLOCK, best.copy * PAGE_SIZE + 8);
      // Repair damaged copies from the winner, so a later single failure is survived too.
      for (const copy of readOnly ? [] : damaged) {
        superblockFile.write(encodeSuperblock(core, best.sequence - ((best.copy - copy + SUPERBLOCK_COPIES) % SUPERBLOCK_COPIES), best.manifestNumber, best.databaseId), copy * PAGE_SIZE);
      }
      if (damaged.length > 0 && !readOnly) superblockFile.sync();
    } finally {
      superblockFile.close();
    }
    const name = manifestFileName(best.manifestNumber);
    if (!storage.exists(name)) throw corruption("the superblock names a missing manifest", { file: name, offset: 0 });
    const file = storage.open(name, { write: !readOnly });
    try {
      const window = new FileWindow(file);
      const { state, end } = replayManifest(core, window, best.manifestNumber);
      const manifest = new Manifest(core, storage, { file, end, superblockSequence: best.sequence, manifestNumber: best.manifestNumber, state, databaseId: best.databaseId });
      manifest.generation = { superblockSequence: best.sequence, manifestNumber: best.manifestNumber, bytes: window.size };
      return manifest;
    } catch (error) {
      file.close();
      throw error;
    }
  }

  /**
   * Without a SUPERBLOCK the directory must hold no database: a manifest, table or segment
   * there is PGZ_CORRUPTION (creating a new database would delete the tables as orphans). The
   * one exception is what a crash inside create() leaves: only manifest 1, empty or holding
   * exactly the empty first snapshot.
   */
  static checkNoDatabase(core: Core, storage: Storage): void {
    for (const name of storage.list()) {
      const parsed = parseFileName(name);
      if (!parsed) continue;
      if (parsed.kind === "manifest" && parsed.fileNumber === 1 && isInterruptedCreate(core, storage, name)) continue;
      throw corruption("the directory holds database files but no SUPERBLOCK", { file: name, offset: 0 });
    }
  }

  get currentManifestNumber(): number {
    return this.manifestNumber;
  }

  /**
   * Applies `edit`: appended and synced (or folded into a new manifest) first. With
   * syncInBackground, an append's fdatasync runs off this thread instead and the edit counts at
   * once (the edit before it, if not yet durable, is synced here first); what may only happen
   * once it is durable (deleting the files it stops needing) waits for editsDurable to reach it
   * (ts/lsm/removals.ts). A crash before then loses the edit and nothing else: the log records
   * it covers are still past the durable head, the table it adds an orphan the next open deletes.
   */
  apply(edit: VersionEdit): void {
    this.checkBackgroundSync();
    const next: VersionState = structuredClone(this.state);
    applyEdit(next, edit);
    const rewrite = this.end >= this.rewriteBytes;
    if (rewrite) {
      this.rewrite(next);
    } else {
      // At most one edit is ever written and not yet durable: two under one fdatasync may reach
      // the disk in either order, and a power loss that kept the later whole and tore the
      // earlier would leave a valid record after a bad one, which replay must call damage.
      if (this.backgroundSync) this.syncNow();
      const pages = encodeEdit(this.core, edit);
      this.file.write(pages, this.end);
      if (!this.backgroundSync) this.file.sync();
      this.end += pages.length;
    }
    this.editsWritten++;
    Object.assign(this.state, next);
    // A rewrite syncs the new manifest and the superblock naming it: every edit is in it, durable.
    if (rewrite || !this.backgroundSync) this.markDurable(this.editsWritten);
    else this.startBackgroundSync();
  }

  /** Edits applied that are durable (all of them but with syncInBackground). */
  editsDurable = 0;
  private backgroundSync = false;
  private syncing: StorageFile | undefined;
  private syncFailure: unknown;
  private durableListeners: (() => void)[] = [];

  /** From now on, appends fdatasync on the thread pool (with the background worker). */
  syncInBackground(): void {
    this.backgroundSync = true;
  }

  /** Throws the failure of a background fdatasync: once one failed, no later edit counts (fsync errors are not retried). */
  checkBackgroundSync(): void {
    if (this.syncFailure !== undefined) throw this.syncFailure;
  }

  /** Calls `listener` once editsDurable next moves (or a background sync fails). */
  onDurable(listener: () => void): void {
    this.durableListeners.push(listener);
  }

  /** Makes every edit applied durable now, on this thread. */
  syncNow(): void {
    this.checkBackgroundSync();
    if (this.editsDurable === this.editsWritten) return;
    try {
      this.file.sync();
    } catch (error) {
      this.syncFailure = error;
      throw error;
    }
    this.markDurable(this.editsWritten);
  }

  private markDurable(edits: number): void {
    if (edits <= this.editsDurable) return;
    this.editsDurable = edits;
    for (const listener of this.durableListeners.splice(0)) listener();
  }

  /** One fdatasync in flight at a time (apply syncs an edit still waiting before it writes the next). */
  private startBackgroundSync(): void {
    if (this.syncing || this.syncFailure !== undefined || this.editsDurable === this.editsWritten) return;
    const file = (this.syncing = this.file);
    const edits = this.editsWritten;
    // A rewrite or close may close the file before this settles: both synced everything on this
    // thread first, so the outcome no longer matters (an fdatasync of a closed descriptor fails,
    // of a reused one syncs another file).
    const settled = (error: unknown) => {
      this.syncing = undefined;
      if (this.closing) return;
      if (file !== this.file) return this.startBackgroundSync();
      if (error === undefined) {
        this.markDurable(edits);
        return this.startBackgroundSync();
      }
      this.syncFailure ??= error;
      for (const listener of this.durableListeners.splice(0)) listener();
    };
    file.syncAsync().then(() => settled(undefined), settled);
  }

  private closing = false;

  /**
   * The manifest is rewritten as one snapshot once it passes this: four times its last
   * snapshot, at least MANIFEST_REWRITE_BYTES_MIN and at most MANIFEST_BYTES_MAX, so a small
   * database keeps a small manifest and a large one does not rewrite it often. A manifest
   * opened from disk counts its snapshot as one page until its first rewrite.
   */
  private get rewriteBytes(): number {
    return Math.min(MANIFEST_BYTES_MAX, Math.max(MANIFEST_REWRITE_BYTES_MIN, 4 * this.snapshotBytes));
  }

  /** Bytes of the snapshot record this manifest started with. */
  private snapshotBytes = PAGE_SIZE;

  /** Writes the whole state as a new manifest, points the superblock at it, drops the old. */
  private rewrite(state: VersionState): void {
    const manifestNumber = state.nextFileNumber++;
    const file = writeNewManifest(this.core, this.storage, manifestNumber, state);
    // Every copy must name the new manifest before the old one goes, or a damaged newest copy
    // would hand the win to a copy naming a deleted file. One copy at a time, each synced.
    try {
      for (let copy = 0; copy < SUPERBLOCK_COPIES; copy++) this.writeSuperblock(manifestNumber);
    } catch (error) {
      // The failure latches the database (PGZ_IO); the new manifest, complete and synced, is
      // what a copy already naming it opens next time. Its handle must not leak.
      file.close();
      throw error;
    }
    const old = this.manifestNumber;
    this.file.close();
    this.file = file;
    this.end = file.size();
    this.snapshotBytes = this.end;
    this.manifestNumber = manifestNumber;
    this.storage.remove(manifestFileName(old));
  }

  private writeSuperblock(manifestNumber: number): void {
    const sequence = this.superblockSequence + 1;
    const file = this.storage.open(FILE_SUPERBLOCK, { write: true });
    try {
      file.write(encodeSuperblock(this.core, sequence, manifestNumber, this.databaseId), (sequence % SUPERBLOCK_COPIES) * PAGE_SIZE);
      file.sync();
    } finally {
      file.close();
    }
    this.superblockSequence = sequence;
  }

  close(): void {
    this.closing = true;
    try {
      this.syncNow();
    } catch {
      // Nothing waits for these edits any more (the deletions that did ran after theirs were
      // durable): losing them costs the next open a longer replay, never data.
    } finally {
      this.file.close();
    }
  }
}

function writeNewManifest(core: Core, storage: Storage, manifestNumber: number, state: VersionState): StorageFile {
  const snapshot: VersionEdit = {
    formatVersion: FORMAT_VERSION,
    snapshot: true,
    // Level 0 is newest first and replay prepends, so write it oldest first.
    added: state.levels.flatMap((tables, level) => (level === 0 ? [...tables].reverse() : tables).map((table) => ({ level, table }))),
    logHead: state.logHead,
    nextFileNumber: state.nextFileNumber,
    lastSequence: state.lastSequence,
    discardedLogBytes: state.discardedLogBytes,
    collectedSegments: state.collectedSegments,
    segmentPointerBytes: state.segmentPointerBytes,
  };
  const name = manifestFileName(manifestNumber);
  const file = storage.open(name, { create: true });
  try {
    file.truncate(0);
    file.write(encodeEdit(core, snapshot), 0);
    file.sync();
    storage.syncDirectory();
  } catch (error) {
    file.close();
    throw error;
  }
  return file;
}

