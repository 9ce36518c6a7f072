/**
 * What the tree's parts share: the environment they build and commit tables in (TreeEnvironment),
 * and the open tables of the current version with the ones compacted away but still read
 * (TreeTables). A table is deleted once it is out of the version and no iterator reads it.
 */
import type { BlockCache } from "./cache.ts";
import type { BlockReader, Core } from "../core/types.ts";
import type { CompactionSettings } from "./compaction.ts";
import { corruption } from "../errors.ts";
import { manifestFileName, parseFileName, tableFileName } from "../format.ts";
import type { HandleCache, Storage } from "../storage/io.ts";
import type { Manifest } from "./manifest.ts";
import { Table, type TableMeta } from "./sstable.ts";
import type { LogAccounting } from "../vlog/accounting.ts";
import type { BackgroundSession } from "./background.ts";
import { openTableImage, type TableImage } from "./table-image.ts";

export interface TreeEnvironment {
  readonly core: Core;
  readonly storage: Storage;
  readonly manifest: Manifest;
  readonly cache: BlockCache<BlockReader>;
  readonly allocateFileNumber: () => number;
  readonly compactionSettings: CompactionSettings;
  /** The table cache: bounds the table files open at once. */
  readonly files: HandleCache;
  /** What a flush needs from the value log: its durability, pointer counts and retirement. */
  readonly accounting: LogAccounting;
  /** With `background: "worker"`: where flushes and compactions build their tables. */
  readonly remote: BackgroundSession | undefined;
}

export class TreeTables {
  /** Every table of the current version, by file number. */
  readonly byNumber = new Map<number, Table>();
  /** Tables compacted away but still read by an iterator. */
  private readonly retired = new Set<Table>();
  /** Tables added with their point-read lookup not open yet (ts/lsm/table-lookup.ts): idle turns open them. */
  private deferredLookups: Table[] = [];
  /** Set when the version changed (a flush, a compaction) and the tree may need compacting. */
  versionChanged = true;

  constructor(private readonly environment: TreeEnvironment) {
    const { manifest, storage, core, files } = environment;
    try {
      for (const level of manifest.state.levels) {
        for (const meta of level) {
          const name = tableFileName(meta.fileNumber);
          // Only a manifest that lost acknowledged edits can name a table that is gone.
          if (!storage.exists(name)) throw corruption(`the manifest names table ${name}, which is missing`, { file: manifestFileName(manifest.currentManifestNumber), offset: 0 });
          this.byNumber.set(meta.fileNumber, Table.open(core, storage, meta, manifest.databaseId, files));
        }
      }
    } catch (error) {
      this.close();
      throw error;
    }
  }

  get levels(): TableMeta[][] {
    return this.environment.manifest.state.levels;
  }

  /** The open table of a file the current version names. */
  of(meta: TableMeta): Table {
    return this.byNumber.get(meta.fileNumber)!;
  }

  /** A table a flush or compaction wrote: from the worker's image of it, or else from its file. */
  open(meta: TableMeta, image: TableImage | undefined): Table {
    const { core, storage, manifest, files } = this.environment;
    if (image) return openTableImage(core, meta, manifest.databaseId, files, image);
    return Table.open(core, storage, meta, manifest.databaseId, files);
  }

  /** Puts a table a flush or compaction committed into the version. */
  add(table: Table): void {
    this.byNumber.set(table.meta.fileNumber, table);
    if (table.lazyLookup.pending) this.deferredLookups.push(table);
  }

  /**
   * Opens the point-read lookup of one table that deferred it, so that an idle event loop, not
   * the first point read, pays the opening (6-8 ms for a 64 MiB memtable's table); true if it
   * opened one. A table closed or compacted away meanwhile is skipped (an iterator may still read
   * a compacted-away one, but no point read will); an opening that fails is left to the table's
   * first point read, which reports it as it would have without this.
   */
  openDeferredLookup(): boolean {
    for (let table = this.deferredLookups.shift(); table; table = this.deferredLookups.shift()) {
      if (!table.lazyLookup.pending || table.obsolete) continue;
      try {
        table.lazyLookup.lookup;
      } catch {
        // Still pending: the first point read of the table opens it again and throws there.
      }
      return true;
    }
    return false;
  }

  /** Takes `fileNumber` out of the version; its file goes once no iterator reads it. */
  retire(fileNumber: number): void {
    const table = this.byNumber.get(fileNumber)!;
    this.byNumber.delete(fileNumber);
    table.obsolete = true;
    this.retired.add(table);
  }

  pin(meta: TableMeta): Table {
    const table = this.of(meta);
    table.readers++;
    return table;
  }

  unpin(table: Table): void {
    table.readers--;
    this.deleteIfUnused(table);
  }

  private deleteIfUnused(table: Table): void {
    if (!table.obsolete || table.readers > 0) return;
    this.retired.delete(table);
    const fileNumber = table.meta.fileNumber;
    this.environment.cache.dropOwner(table.cacheSlots);
    table.close();
    this.environment.storage.remove(tableFileName(fileNumber));
  }

  /** Table files in the directory that no level references (left by a crash mid-flush). */
  orphans(): string[] {
    const live = new Set([...this.byNumber.keys()].map(tableFileName));
    // Only names pgz writes: a stray file is never deleted (parseFileName).
    return this.environment.storage.list().filter((name) => parseFileName(name)?.kind === "table" && !live.has(name));
  }

  close(): void {
    // Retired tables are no longer in the manifest: the next open deletes their files.
    for (const table of [...this.byNumber.values(), ...this.retired]) table.close();
    this.byNumber.clear();
    this.retired.clear();
    this.deferredLookups = [];
  }
}
