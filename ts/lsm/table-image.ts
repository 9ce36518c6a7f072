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
 * On the foreground: the table `meta` names, from the image the worker sent with it. The image
 * must describe that table (its footer's counts, its last key the manifest's largest): the
 * worker checked the file itself, so a mismatch here is a bug, not corruption.
 */
export function openTableImage(core: Core, meta: TableMeta, databaseId: Uint8Array, files: HandleCache, image: TableImage): Table {
  const count = image.keyEnds.length;
  assert(image.handles.length === count * HANDLE_FIELDS, "a handle per block key");
  assert(image.blockPrefixes.length === count, "a prefix per block key");
  assert(image.footer.blockCount === count && image.footer.entries === meta.entries, "the image is of the table the manifest names");
  const blocks: BlockHandle[] = [];
  let start = 0;
  for (let index = 0; index < count; index++) {
    const end = image.keyEnds[index]!;
    const base = index * HANDLE_FIELDS;
    blocks.push({ lastKey: image.lastKeys.subarray(start, end), offset: image.handles[base]!, length: image.handles[base + 1]!, rawLength: image.handles[base + 2]! });
    start = end;
  }
  assert(count > 0 && bytesEqual(blocks[count - 1]!.lastKey, meta.largest), "the image ends at the manifest's largest key");
  const parts = { footer: image.footer, blocks, filterBytes: image.filterBytes, indexBytes: image.indexBytes };
  return Table.fromParts(core, meta, databaseId, files, parts, { sharedPrefixBytes: image.sharedPrefixBytes, blockPrefixes: image.blockPrefixes });
}
