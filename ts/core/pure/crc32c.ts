/**
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78) in TypeScript: slicing-by-16 over one
 * Int32Array of 16 tables, the twin of assembly/crc32c.ts. The public form extends a finished
 * CRC like LevelDB's crc32c::Extend (the register is the complement of the CRC), and LevelDB's
 * mask keeps a CRC stored inside checksummed data from looking like a CRC of that data.
 */
import { checkCrc, checkCrcData, checkRanges, checkReadBufferLength, crc32cMask, crc32cUnmask, readBufferCapacity } from "../checks.ts";

const POLYNOMIAL = 0x82f63b78;

/** Table t (entries t * 256 .. t * 256 + 255) maps a byte to its contribution followed by t zero bytes. */
const TABLES = buildTables();

function buildTables(): Int32Array {
  const tables = new Int32Array(16 * 256);
  for (let value = 0; value < 256; value++) {
    let register = value;
    for (let bit = 0; bit < 8; bit++) register = register & 1 ? (register >>> 1) ^ POLYNOMIAL : register >>> 1;
    tables[value] = register;
  }
  for (let index = 256; index < 16 * 256; index++) {
    const previous = tables[index - 256]!;
    tables[index] = (previous >>> 8) ^ tables[previous & 0xff]!;
  }
  return tables;
}

/**
 * Steps the raw register over data[start, end). The 12 bytes that do not meet the register are
 * looked up first, so only 4 lookups sit on the loop-carried dependency chain.
 */
function crc32cRegister(data: Uint8Array, start: number, end: number, register: number): number {
  const t = TABLES;
  let i = start;
  for (const last = end - 16; i <= last; i += 16) {
    const independent =
      (t[0xb00 | data[i + 4]!]! ^ t[0xa00 | data[i + 5]!]! ^ (t[0x900 | data[i + 6]!]! ^ t[0x800 | data[i + 7]!]!)) ^
      (t[0x700 | data[i + 8]!]! ^ t[0x600 | data[i + 9]!]! ^ (t[0x500 | data[i + 10]!]! ^ t[0x400 | data[i + 11]!]!)) ^
      (t[0x300 | data[i + 12]!]! ^ t[0x200 | data[i + 13]!]! ^ (t[0x100 | data[i + 14]!]! ^ t[data[i + 15]!]!));
    const word = register ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    register =
      independent ^
      (t[0xf00 | (word & 0xff)]! ^ t[0xe00 | ((word >>> 8) & 0xff)]!) ^
      (t[0xd00 | ((word >>> 16) & 0xff)]! ^ t[0xc00 | (word >>> 24)]!);
  }
  for (; i < end; i++) register = (register >>> 8) ^ t[(register ^ data[i]!) & 0xff]!;
  return register;
}

export function pureCrc32c() {
  // One buffer for every record read, grown to the longest asked for (at most 1 MiB).
  let readBytes = new Uint8Array(0);
  return {
    crc32c(data: Uint8Array, crc = 0): number {
      checkCrcData(data);
      checkCrc(crc, "crc");
      return ~crc32cRegister(data, 0, data.length, ~crc) >>> 0;
    },
    crc32cEach(data: Uint8Array, starts: Uint32Array, ends: Uint32Array, out: Uint32Array): void {
      checkRanges(data, starts, ends, out);
      for (let i = 0; i < starts.length; i++) out[i] = ~crc32cRegister(data, starts[i]!, ends[i]!, -1);
    },
    crc32cMask,
    crc32cUnmask,
    readBuffer(length: number): Uint8Array {
      checkReadBufferLength(length);
      if (length > readBytes.length) readBytes = new Uint8Array(readBufferCapacity(length, readBytes.length));
      return readBytes.subarray(0, length);
    },
  };
}
