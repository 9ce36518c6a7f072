/**
 * Online backup: a copy of one read-only version (ts/engine/reader.ts), taken while a writer
 * goes on. Tables and sealed log segments never change once written, so they are hard-linked
 * where the file system allows (copied otherwise); the newest segment is still being appended
 * to (and a writer's recovery may cut its tail in place), so it is copied, up to the end of the
 * replayed log. A new manifest holding the version's state, then the SUPERBLOCK, make the copy
 * an ordinary database as of the version's sequence.
 *
 * Incremental: a file the target already holds with the same name and size is skipped (file
 * numbers are never reused within a database). The target's BACKUP.json (docs/FORMAT.md) says
 * which database it copies and which manifest the backup wrote: a target opened for writing
 * since (its manifest changed) is refused, since its files may no longer be the source's.
 *
 * A backup killed midway: new files are written under temporary names first (a writer's open
 * deletes those); only then is the old SUPERBLOCK moved to BACKUP-IN-PROGRESS while the new
 * files take their names, and the new SUPERBLOCK is the last rename. Until then the target
 * opens as the previous backup; in that short window it has no SUPERBLOCK and is refused
 * (PGZ_CORRUPTION); a later backup into it finishes the job.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { toHex } from "../bytes.ts";
import type { Core } from "../core/types.ts";
import { PgzError, invalidArgument } from "../errors.ts";
import { FILE_LOCK, FILE_SUPERBLOCK, PAGE_SIZE, SUPERBLOCK_COPIES, TEMPORARY_SUFFIX, manifestFileName, parseFileName, segmentFileName, tableFileName } from "../format.ts";
import { Manifest } from "../lsm/manifest.ts";
import { type VersionState } from "../lsm/version.ts";
import { decodeSuperblock } from "../lsm/superblock.ts";
import { ioError, type Storage } from "../storage/io.ts";
import { NodeStorage } from "../storage/node.ts";
import type { LogPosition } from "../vlog/log.ts";

/** The target's record of the backup it holds (one line of JSON). */
export const FILE_BACKUP = "BACKUP.json";
/** The previous backup's SUPERBLOCK while a backup renames its files into place. */
export const FILE_BACKUP_IN_PROGRESS = "BACKUP-IN-PROGRESS";
/** The new SUPERBLOCK before its rename (a temporary name: a writer's open deletes it). */
const STAGED_SUPERBLOCK = `${FILE_SUPERBLOCK}.new${TEMPORARY_SUFFIX}`;

export interface BackupSource {
  core: Core;
  storage: Storage;
  state: VersionState;
  databaseId: Uint8Array;
  /** Every log segment the version may read, oldest first. */
  segments: number[];
  /** Where the version's log ends: the newest segment is copied up to here. */
  logEnd: LogPosition;
  sequence: number;
}

export interface BackupReport {
  /** The sequence the copy is as of: every write up to it, none after. */
  sequence: number;
  filesLinked: number;
  filesCopied: number;
  filesSkipped: number;
  bytesCopied: number;
  /** Files of an earlier backup the copy no longer needs, removed. */
  filesRemoved: number;
}

interface BackupRecord {
  databaseId: string;
  /** "" while the first backup into the target is under way. */
  manifest: string;
  manifestBytes: number;
  sequence: number;
}

interface Copy {
  name: string;
  /** Bytes to copy; undefined: the whole file, linked if possible. */
  bytes?: number;
}

function failure(operation: string, target: string, error: unknown): PgzError {
  return error instanceof PgzError ? error : ioError(operation, target, error);
}

/** Copies `source`'s version into `target` (created if missing); see the module comment. */
export function backupVersion(source: BackupSource, target: string): BackupReport {
  const previous = checkTarget(source, target);
  const report: BackupReport = { sequence: source.sequence, filesLinked: 0, filesCopied: 0, filesSkipped: 0, bytesCopied: 0, filesRemoved: 0 };
  const wanted = filesOf(source);
  // A first backup says whose it is before it writes anything, so a retry after a kill is accepted.
  if (!previous) writeRecord(target, { databaseId: toHex(source.databaseId), manifest: "", manifestBytes: -1, sequence: -1 });
  const staged: string[] = [];
  for (const copy of wanted) {
    const stagedName = stageFile(source.storage.directory, target, copy, report);
    if (stagedName) staged.push(copy.name);
  }
  // Above every manifest in the target: the one the previous backup opens must stay intact until the switch.
  const manifestsBefore = fs.readdirSync(target).map((name) => parseFileName(name)).filter((parsed) => parsed?.kind === "manifest");
  const manifestNumber = Math.max(source.state.nextFileNumber, (source.segments.at(-1) ?? 0) + 1, ...manifestsBefore.map((parsed) => parsed!.fileNumber + 1));
  const targetStorage = new NodeStorage(target);
  // The new manifest and SUPERBLOCK are built aside: Manifest.create writes the superblock by rename.
  const stagingStorage = Object.create(targetStorage) as Storage;
  stagingStorage.rename = (from, to) => targetStorage.rename(from, to === FILE_SUPERBLOCK ? STAGED_SUPERBLOCK : to);
  Manifest.create(source.core, stagingStorage, { state: source.state, databaseId: source.databaseId, manifestNumber }).close();
  commit(target, staged);
  const manifestName = manifestFileName(manifestNumber);
  const record: BackupRecord = { databaseId: toHex(source.databaseId), manifest: manifestName, manifestBytes: fs.statSync(path.join(target, manifestName)).size, sequence: source.sequence };
  writeRecord(target, record);
  report.filesRemoved = removeUnneeded(target, new Set([...wanted.map((copy) => copy.name), manifestName]));
  targetStorage.syncDirectory();
  return report;
}

function writeRecord(target: string, record: BackupRecord): void {
  fs.writeFileSync(path.join(target, FILE_BACKUP + TEMPORARY_SUFFIX), JSON.stringify(record) + "\n");
  fs.renameSync(path.join(target, FILE_BACKUP + TEMPORARY_SUFFIX), path.join(target, FILE_BACKUP));
  syncDirectory(target);
}

/** Tables, sealed segments whole, the newest segment up to the log's end. */
function filesOf(source: BackupSource): Copy[] {
  const tables = source.state.levels.flat().map((table): Copy => ({ name: tableFileName(table.fileNumber) }));
  const segments = source.segments.map((segment): Copy => {
    if (segment !== source.logEnd.segment) return { name: segmentFileName(segment) };
    return { name: segmentFileName(segment), bytes: source.logEnd.offset };
  });
  // A segment newer than the log's end is blank (being created): the copy does not need it.
  return [...tables, ...segments.filter((copy) => parseFileName(copy.name)!.fileNumber <= source.logEnd.segment)];
}

/** `target` with symlinks resolved, through its nearest existing ancestor if it does not exist yet. */
function resolvedPath(target: string): string {
  const absolute = path.resolve(target);
  if (fs.existsSync(absolute)) return fs.realpathSync(absolute);
  const parent = path.dirname(absolute);
  return parent === absolute ? absolute : path.join(resolvedPath(parent), path.basename(absolute));
}

/** The target is empty, or an earlier backup of this database not written to since. */
function checkTarget(source: BackupSource, target: string): BackupRecord | undefined {
  if (fs.existsSync(target) && !fs.statSync(target).isDirectory()) throw invalidArgument(`the backup target ${target} is a file: a database is a directory`);
  // Inside the database directory (itself, or a subdirectory, through any symlink) the copy
  // would sit among the files it copies: refused before anything is made.
  const targetPath = resolvedPath(target);
  const sourcePath = fs.realpathSync(source.storage.directory);
  if (targetPath === sourcePath) throw invalidArgument("the backup target is the database itself");
  if (targetPath.startsWith(sourcePath + path.sep)) throw invalidArgument(`the backup target ${target} is inside the database directory`);
  try {
    fs.mkdirSync(target, { recursive: true });
  } catch (error) {
    throw failure("mkdir", target, error);
  }
  const names = fs.readdirSync(target);
  if (names.length === 0) return undefined;
  const refuse = (why: string) => new PgzError("PGZ_INVALID_ARGUMENT", `backup target ${target} is not empty and ${why}; back up into an empty directory or an earlier backup of this database`);
  if (names.includes(FILE_LOCK)) throw refuse("is open as a database (it holds a LOCK)");
  const record = readRecord(target);
  if (!record) throw refuse(`is not a pgz backup (no readable ${FILE_BACKUP})`);
  if (record.databaseId !== toHex(source.databaseId)) throw refuse("is a backup of another database");
  const superblock = names.includes(FILE_SUPERBLOCK) ? FILE_SUPERBLOCK : names.includes(FILE_BACKUP_IN_PROGRESS) ? FILE_BACKUP_IN_PROGRESS : undefined;
  if (record.manifest === "") {
    // A first backup that did not finish: whatever it left is replaced.
    if (superblock && superblockIdOf(source.core, path.join(target, superblock)) !== record.databaseId) throw refuse("has a SUPERBLOCK of another database");
    return undefined;
  }
  if (!superblock || superblockIdOf(source.core, path.join(target, superblock)) !== record.databaseId) throw refuse(`has no SUPERBLOCK of the database its ${FILE_BACKUP} names`);
  const manifestPath = path.join(target, record.manifest);
  const manifestBytes = fs.existsSync(manifestPath) ? fs.statSync(manifestPath).size : -1;
  if (manifestBytes !== record.manifestBytes) throw refuse("has been written as a database since the backup (its manifest changed)");
  return record;
}

function readRecord(target: string): BackupRecord | undefined {
  try {
    const value = JSON.parse(fs.readFileSync(path.join(target, FILE_BACKUP), "utf8")) as Partial<BackupRecord>;
    const manifestValid = typeof value.manifest === "string" && (value.manifest === "" || parseFileName(value.manifest)?.kind === "manifest");
    const valid = typeof value.databaseId === "string" && manifestValid && Number.isSafeInteger(value.manifestBytes);
    return valid ? (value as BackupRecord) : undefined;
  } catch {
    return undefined;
  }
}

function superblockIdOf(core: Core, file: string): string | undefined {
  const bytes = fs.readFileSync(file);
  for (let copy = 0; copy < SUPERBLOCK_COPIES; copy++) {
    const decoded = decodeSuperblock(core, new Uint8Array(bytes.buffer, bytes.byteOffset + copy * PAGE_SIZE, Math.max(0, Math.min(PAGE_SIZE, bytes.length - copy * PAGE_SIZE))), copy);
    if (decoded) return toHex(decoded.databaseId);
  }
  return undefined;
}

/**
 * Puts one file under its temporary name in the target, unless the target has it already
 * (same name, same size); true if staged.
 */
function stageFile(sourceDirectory: string, target: string, copy: Copy, report: BackupReport): boolean {
  const from = path.join(sourceDirectory, copy.name);
  const to = path.join(target, copy.name);
  const size = copy.bytes ?? fs.statSync(from).size;
  if (fs.existsSync(to) && fs.statSync(to).size === size) {
    report.filesSkipped++;
    return false;
  }
  const staged = to + TEMPORARY_SUFFIX;
  fs.rmSync(staged, { force: true });
  if (copy.bytes === undefined && tryLink(from, staged)) {
    report.filesLinked++;
    return true;
  }
  copyBytes(from, staged, size);
  report.filesCopied++;
  report.bytesCopied += size;
  return true;
}

function tryLink(from: string, to: string): boolean {
  try {
    fs.linkSync(from, to);
    return true;
  } catch {
    // Another file system, or none with hard links: copy instead.
    return false;
  }
}

/** Copies the first `size` bytes of `from` and makes them durable. */
function copyBytes(from: string, to: string, size: number): void {
  const input = fs.openSync(from, "r");
  const output = fs.openSync(to, "w");
  try {
    const buffer = new Uint8Array(1024 * 1024);
    for (let done = 0; done < size; ) {
      const count = fs.readSync(input, buffer, 0, Math.min(buffer.length, size - done), done);
      if (count === 0) throw new PgzError("PGZ_IO", `${from} ended at ${done} bytes while ${size} were being backed up`, { file: from, offset: done });
      fs.writeSync(output, buffer, 0, count, done);
      done += count;
    }
    fs.fdatasyncSync(output);
  } finally {
    fs.closeSync(input);
    fs.closeSync(output);
  }
}

/**
 * Renames the staged files into place. Renaming a new segment beside the previous backup's
 * manifest would extend the log that manifest replays, so the previous SUPERBLOCK steps aside
 * first (the target is refused, not misread, if the backup dies here) and the new one is the
 * last rename.
 */
function commit(target: string, staged: string[]): void {
  const superblock = path.join(target, FILE_SUPERBLOCK);
  const aside = path.join(target, FILE_BACKUP_IN_PROGRESS);
  if (fs.existsSync(superblock)) fs.renameSync(superblock, aside);
  for (const name of staged) fs.renameSync(path.join(target, name + TEMPORARY_SUFFIX), path.join(target, name));
  syncDirectory(target);
  fs.renameSync(path.join(target, STAGED_SUPERBLOCK), superblock);
  syncDirectory(target);
  fs.rmSync(aside, { force: true });
}

function syncDirectory(directory: string): void {
  const descriptor = fs.openSync(directory, "r");
  try {
    fs.fsyncSync(descriptor);
  } finally {
    fs.closeSync(descriptor);
  }
}

/** Removes the database files (and leftovers) of earlier backups the new one does not name. */
function removeUnneeded(target: string, keep: Set<string>): number {
  let removed = 0;
  for (const name of fs.readdirSync(target)) {
    const stale = (parseFileName(name) !== undefined && !keep.has(name)) || name.endsWith(TEMPORARY_SUFFIX);
    if (!stale) continue;
    fs.rmSync(path.join(target, name), { force: true });
    removed++;
  }
  return removed;
}
