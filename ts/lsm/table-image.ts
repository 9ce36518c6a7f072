/**
 * A table's open state packed for a trip between threads. The background worker, once it has
 * written and fsynced a flush's table, reads it back and checks it as Table.open would
 * (readTableParts: footer, index, filter, identity) and replies with this image; the foreground
 * opens the table from it without reading the file or decoding the index block by block. A
 * first Table.open of a flushed table took 36-42 ms on the caller's thread (reading and
 * decoding 13,000 block handles and their key prefixes, the code still cold).
 *
 *   handles:  | offset f64 | length f64 | raw length f64 | ... one triple per block
 *   lastKeys: | block 0's last key | block 1's | ...      keyEnds[i]: where block i's ends
 */
import { assert } from "../assert.ts";
import { bytesEqual } from "../bytes.ts";
import type { Core } from "../core/types.ts";
import type { HandleCache, Storage } from "../storage/io.ts";
import { blockPrefixesOf } from "./block-prefixes.ts";
import { Table, readTableParts, type TableFooter, type TableMeta } from "./sstable.ts";
import type { BlockHandle } from "./table-block.ts";

export interface TableImage {
  footer: TableFooter;
  indexBytes: Uint8Array;
  filterBytes: Uint8Array;
  handles: Float64Array;
  lastKeys: Uint8Array;
  keyEnds: Uint32Array;
  sharedPrefixBytes: number;
  blockPrefixes: Float64Array;
}

const HANDLE_FIELDS = 3;

/** On the worker: reads back and checks the table the manifest is about to name, and packs it. */
export function readTableImage(core: Core, storage: Storage, meta: TableMeta, databaseId: Uint8Array): TableImage {
  const { footer, blocks, filterBytes, indexBytes } = readTableParts(core, storage, meta, databaseId);
  const handles = new Float64Array(blocks.length * HANDLE_FIELDS);
  const keyEnds = new Uint32Array(blocks.length);
  let keyBytes = 0;
  for (const block of blocks) keyBytes += block.lastKey.length;
  const lastKeys = new Uint8Array(keyBytes);
  let end = 0;
  blocks.forEach((block, index) => {
    handles[index * HANDLE_FIELDS] = block.offset;
    handles[index * HANDLE_FIELDS + 1] = block.length;
    handles[index * HANDLE_FIELDS + 2] = block.rawLength;
    lastKeys.set(block.lastKey, end);
    end += block.lastKey.length;
    keyEnds[index] = end;
  });
  const { sharedPrefixBytes, blockPrefixes } = blockPrefixesOf(blocks);
  return { footer, indexBytes, filterBytes, handles, lastKeys, keyEnds, sharedPrefixBytes, blockPrefixes };
}

/** The buffers of an image, to transfer rather than copy. */
export function tableImageBuffers(image: TableImage): ArrayBuffer[] {
  const arrays = [image.indexBytes, image.filterBytes, image.handles, image.lastKeys, image.keyEnds, image.blockPrefixes];
  return [...new Set(arrays.map((array) => array.buffer as ArrayBuffer))];
}

/**
 * Block handles one step of a TableOpening builds: cold code built 13,000 in 20-50 ms, and a
 * write that took two steps of 1,024 spent 2.2-2.5 ms in them (bench:latency).
 */
const HANDLES_PER_STEP = 256;

/**
 * On the foreground: opens the table `meta` names from the image the worker sent with it, in
 * steps of HANDLES_PER_STEP block handles, so no one turn of the caller's thread carries a
 * whole table. The image must describe that table (its footer's counts, its last key the
 * manifest's largest): the worker checked the file itself, so a mismatch is a bug, not corruption.
 */
export class TableOpening {
  private readonly blocks: BlockHandle[] = [];
  private keyStart = 0;

  constructor(
    private readonly core: Core,
    private readonly meta: TableMeta,
    private readonly databaseId: Uint8Array,
    private readonly files: HandleCache,
    private readonly image: TableImage,
  ) {
    const count = image.keyEnds.length;
    assert(count > 0 && image.handles.length === count * HANDLE_FIELDS, "a handle per block key");
    assert(image.blockPrefixes.length === count, "a prefix per block key");
    assert(image.footer.blockCount === count && image.footer.entries === meta.entries, "the image is of the table the manifest names");
  }

  /** Builds up to `handlesMax` more block handles; once every one is built, opens the table and returns it. */
  step(handlesMax = HANDLES_PER_STEP): Table | undefined {
    const { image, blocks } = this;
    const end = Math.min(image.keyEnds.length, blocks.length + handlesMax);
    for (let index = blocks.length; index < end; index++) {
      const keyEnd = image.keyEnds[index]!;
      const base = index * HANDLE_FIELDS;
      blocks.push({ lastKey: image.lastKeys.subarray(this.keyStart, keyEnd), offset: image.handles[base]!, length: image.handles[base + 1]!, rawLength: image.handles[base + 2]! });
      this.keyStart = keyEnd;
    }
    if (blocks.length < image.keyEnds.length) return undefined;
    assert(bytesEqual(blocks[blocks.length - 1]!.lastKey, this.meta.largest), "the image ends at the manifest's largest key");
    const parts = { footer: image.footer, blocks, filterBytes: image.filterBytes, indexBytes: image.indexBytes };
    // The worker read the table back and checked it: its point-read lookup opens at the first point read (Table.lookup).
    return Table.fromParts(this.core, this.meta, this.databaseId, this.files, parts, { sharedPrefixBytes: image.sharedPrefixBytes, blockPrefixes: image.blockPrefixes }, true);
  }
}

/** The same in one go (a compaction's outputs, tests). */
export function openTableImage(core: Core, meta: TableMeta, databaseId: Uint8Array, files: HandleCache, image: TableImage): Table {
  return new TableOpening(core, meta, databaseId, files, image).step(Number.MAX_SAFE_INTEGER)!;
}
