// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every block, record
// and superblock. The public form extends a finished CRC like LevelDB's crc32c::Extend: the
// register is the complement of the CRC. Three kernels, chosen by how much input is left:
//
// 1. Sixteen streams in SIMD lanes (>= 4 KiB): the input is cut into 16 equal streams, one per
//    byte lane of a v128. Every lane steps its own byte-at-a-time CRC, and because the lanes sit
//    at the same offset of their streams they share one table, which i8x16.swizzle can look up
//    as two 16-entry nibble tables per output byte (the byte table is linear over GF(2), so
//    T[x] = T[x & 15] ^ T[x & 0xF0]). The 16 stream CRCs are then joined with a precomputed
//    "append this many zero bytes" operator: crc(A || B) = shift(crc(A), |B|) ^ crc(B).
// 2. Slicing-by-16 for what is left over (16..4095 bytes).
// 3. One table lookup per byte for the last 0..15 bytes.
//
// The tables live in static memory and are filled on first use: the module's start function is
// exported, not run, so top-level code cannot initialise them.

const POLYNOMIAL: u32 = 0x82f63b78;
const TABLE_BYTES: u32 = 256 * 4;
/** Slicing tables 0..15: table t maps a byte to its CRC contribution followed by t zero bytes. */
const SLICING_TABLES: usize = memory.data(<i32>(16 * TABLE_BYTES), 64);
/** Per output byte j: the byte table's byte j for a low nibble (j = 0..3), then for a high one. */
const NIBBLE_TABLES: usize = memory.data(8 * 16, 16);
/** The 16 transposed columns of one 16 x 16 tile: column t holds byte t of every stream. */
const COLUMNS: usize = memory.data(16 * 16, 16);
/** Stream lengths of the SIMD kernel: 16 KiB blocks while they fit, then 4 KiB blocks. */
const STREAM_BYTES_LARGE: u32 = 1024;
const STREAM_BYTES_SMALL: u32 = 256;
const STREAM_COUNT: u32 = 16;
/** Zero-append operators (4 tables of 256 each): register * x^(8 * stream bytes) mod P. */
const SHIFT_TABLES_LARGE: usize = memory.data(<i32>(4 * TABLE_BYTES), 64);
const SHIFT_TABLES_SMALL: usize = memory.data(<i32>(4 * TABLE_BYTES), 64);

let tablesReady = false;

// @ts-ignore: decorator
@inline function slicing(table: u32, index: u32): u32 {
  return load<u32>(SLICING_TABLES + <usize>(table * TABLE_BYTES) + (<usize>index << 2));
}

/** The register after `count` zero bytes, one table step at a time (table setup only). */
function appendZeros(register: u32, count: u32): u32 {
  for (let i: u32 = 0; i < count; i++) register = (register >>> 8) ^ slicing(0, register & 0xff);
  return register;
}

/** Fills four byte tables so that shift(x) = XOR of table k at byte k of x. */
function fillShiftTables(tables: usize, streamBytes: u32): void {
  // The operator is linear: build it from the images of the 32 single bits.
  const bitImages = memory.data(32 * 4, 16);
  for (let bit: u32 = 0; bit < 32; bit++) store<u32>(bitImages + (bit << 2), appendZeros(<u32>1 << bit, streamBytes));
  for (let k: u32 = 0; k < 4; k++) {
    for (let value: u32 = 0; value < 256; value++) {
      let image: u32 = 0;
      for (let bit: u32 = 0; bit < 8; bit++) {
        if ((value >>> bit) & 1) image ^= load<u32>(bitImages + ((k * 8 + bit) << 2));
      }
      store<u32>(tables + <usize>(k * TABLE_BYTES + (value << 2)), image);
    }
  }
}

function fillTables(): void {
  for (let value: u32 = 0; value < 256; value++) {
    let register = value;
    for (let bit = 0; bit < 8; bit++) register = (register & 1) != 0 ? (register >>> 1) ^ POLYNOMIAL : register >>> 1;
    store<u32>(SLICING_TABLES + (value << 2), register);
  }
  for (let table: u32 = 1; table < 16; table++) {
    for (let value: u32 = 0; value < 256; value++) {
      const previous = slicing(table - 1, value);
      const entry = (previous >>> 8) ^ slicing(0, previous & 0xff);
      store<u32>(SLICING_TABLES + <usize>(table * TABLE_BYTES + (value << 2)), entry);
    }
  }
  for (let nibble: u32 = 0; nibble < 16; nibble++) {
    const low = slicing(0, nibble);
    const high = slicing(0, nibble << 4);
    for (let j: u32 = 0; j < 4; j++) {
      store<u8>(NIBBLE_TABLES + j * 16 + nibble, <u8>(low >>> (8 * j)));
      store<u8>(NIBBLE_TABLES + (4 + j) * 16 + nibble, <u8>(high >>> (8 * j)));
    }
  }
  fillShiftTables(SHIFT_TABLES_LARGE, STREAM_BYTES_LARGE);
  fillShiftTables(SHIFT_TABLES_SMALL, STREAM_BYTES_SMALL);
  tablesReady = true;
}

// @ts-ignore: decorator
@inline function shiftRegister(tables: usize, register: u32): u32 {
  const byte0 = load<u32>(tables + ((register & 0xff) << 2));
  const byte1 = load<u32>(tables + TABLE_BYTES + (((register >>> 8) & 0xff) << 2));
  const byte2 = load<u32>(tables + 2 * TABLE_BYTES + (((register >>> 16) & 0xff) << 2));
  const byte3 = load<u32>(tables + 3 * TABLE_BYTES + ((register >>> 24) << 2));
  return (byte0 ^ byte1) ^ (byte2 ^ byte3);
}

// Interleaving shuffles of the 16 x 16 transpose: each is an unpack pattern that x64 has one
// instruction for (punpckl/h of bytes, words, dwords, qwords).
// @ts-ignore: decorator
@inline function low8(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
}
// @ts-ignore: decorator
@inline function high8(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
}
// @ts-ignore: decorator
@inline function low16(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
}
// @ts-ignore: decorator
@inline function high16(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
}
// @ts-ignore: decorator
@inline function low32(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
}
// @ts-ignore: decorator
@inline function high32(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
}
// @ts-ignore: decorator
@inline function low64(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
}
// @ts-ignore: decorator
@inline function high64(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
}

/** Transposes the 16 x 16 tile whose row i is at `at + i * stride` into COLUMNS. */
// @ts-ignore: decorator
@inline function transposeTile(at: usize, stride: usize): void {
  const r0 = v128.load(at), r1 = v128.load(at + 1 * stride);
  const r2 = v128.load(at + 2 * stride), r3 = v128.load(at + 3 * stride);
  const r4 = v128.load(at + 4 * stride), r5 = v128.load(at + 5 * stride);
  const r6 = v128.load(at + 6 * stride), r7 = v128.load(at + 7 * stride);
  const r8 = v128.load(at + 8 * stride), r9 = v128.load(at + 9 * stride);
  const r10 = v128.load(at + 10 * stride), r11 = v128.load(at + 11 * stride);
  const r12 = v128.load(at + 12 * stride), r13 = v128.load(at + 13 * stride);
  const r14 = v128.load(at + 14 * stride), r15 = v128.load(at + 15 * stride);
  const a0 = low8(r0, r1), a1 = high8(r0, r1), a2 = low8(r2, r3), a3 = high8(r2, r3);
  const a4 = low8(r4, r5), a5 = high8(r4, r5), a6 = low8(r6, r7), a7 = high8(r6, r7);
  const a8 = low8(r8, r9), a9 = high8(r8, r9), a10 = low8(r10, r11), a11 = high8(r10, r11);
  const a12 = low8(r12, r13), a13 = high8(r12, r13), a14 = low8(r14, r15), a15 = high8(r14, r15);
  const b0 = low16(a0, a2), b1 = high16(a0, a2), b2 = low16(a1, a3), b3 = high16(a1, a3);
  const b4 = low16(a4, a6), b5 = high16(a4, a6), b6 = low16(a5, a7), b7 = high16(a5, a7);
  const b8 = low16(a8, a10), b9 = high16(a8, a10), b10 = low16(a9, a11), b11 = high16(a9, a11);
  const b12 = low16(a12, a14), b13 = high16(a12, a14), b14 = low16(a13, a15), b15 = high16(a13, a15);
  const d0 = low32(b0, b4), d1 = high32(b0, b4), d2 = low32(b1, b5), d3 = high32(b1, b5);
  const d4 = low32(b2, b6), d5 = high32(b2, b6), d6 = low32(b3, b7), d7 = high32(b3, b7);
  const d8 = low32(b8, b12), d9 = high32(b8, b12), d10 = low32(b9, b13), d11 = high32(b9, b13);
  const d12 = low32(b10, b14), d13 = high32(b10, b14), d14 = low32(b11, b15), d15 = high32(b11, b15);
  v128.store(COLUMNS, low64(d0, d8), 0); v128.store(COLUMNS, high64(d0, d8), 16);
  v128.store(COLUMNS, low64(d1, d9), 32); v128.store(COLUMNS, high64(d1, d9), 48);
  v128.store(COLUMNS, low64(d2, d10), 64); v128.store(COLUMNS, high64(d2, d10), 80);
  v128.store(COLUMNS, low64(d3, d11), 96); v128.store(COLUMNS, high64(d3, d11), 112);
  v128.store(COLUMNS, low64(d4, d12), 128); v128.store(COLUMNS, high64(d4, d12), 144);
  v128.store(COLUMNS, low64(d5, d13), 160); v128.store(COLUMNS, high64(d5, d13), 176);
  v128.store(COLUMNS, low64(d6, d14), 192); v128.store(COLUMNS, high64(d6, d14), 208);
  v128.store(COLUMNS, low64(d7, d15), 224); v128.store(COLUMNS, high64(d7, d15), 240);
}

/**
 * Steps the register over 16 * streamBytes bytes at `pointer` as 16 streams in byte lanes.
 * Lane state is four byte vectors (byte j of every lane's register in registerBytes j).
 */
// @ts-ignore: decorator
@inline function sixteenStreams(pointer: usize, register: u32, streamBytes: usize, shiftTables: usize): u32 {
  const nibbleMask = i8x16.splat(0x0f);
  const low0 = v128.load(NIBBLE_TABLES), low1 = v128.load(NIBBLE_TABLES, 16);
  const low2 = v128.load(NIBBLE_TABLES, 32), low3 = v128.load(NIBBLE_TABLES, 48);
  const high0 = v128.load(NIBBLE_TABLES, 64), high1 = v128.load(NIBBLE_TABLES, 80);
  const high2 = v128.load(NIBBLE_TABLES, 96), high3 = v128.load(NIBBLE_TABLES, 112);
  // Stream 0 continues the caller's register; the other streams start from zero (linearity).
  let registerBytes0 = i8x16.replace_lane(i32x4.splat(0), 0, <i8>register);
  let registerBytes1 = i8x16.replace_lane(i32x4.splat(0), 0, <i8>(register >>> 8));
  let registerBytes2 = i8x16.replace_lane(i32x4.splat(0), 0, <i8>(register >>> 16));
  let registerBytes3 = i8x16.replace_lane(i32x4.splat(0), 0, <i8>(register >>> 24));
  for (let offset: usize = 0; offset < streamBytes; offset += 16) {
    transposeTile(pointer + offset, streamBytes);
    for (let column: usize = 0; column < 256; column += 16) {
      // register = (register >>> 8) ^ T[(register ^ byte) & 0xff], per lane, bytewise.
      const index = v128.xor(registerBytes0, v128.load(COLUMNS + column));
      const lowNibbles = v128.and(index, nibbleMask);
      const highNibbles = v128.and(i16x8.shr_u(index, 4), nibbleMask);
      const out0 = v128.xor(i8x16.swizzle(low0, lowNibbles), i8x16.swizzle(high0, highNibbles));
      const out1 = v128.xor(i8x16.swizzle(low1, lowNibbles), i8x16.swizzle(high1, highNibbles));
      const out2 = v128.xor(i8x16.swizzle(low2, lowNibbles), i8x16.swizzle(high2, highNibbles));
      const out3 = v128.xor(i8x16.swizzle(low3, lowNibbles), i8x16.swizzle(high3, highNibbles));
      registerBytes0 = v128.xor(registerBytes1, out0);
      registerBytes1 = v128.xor(registerBytes2, out1);
      registerBytes2 = v128.xor(registerBytes3, out2);
      registerBytes3 = out3;
    }
  }
  // Reassemble each lane's u32 register (lane i of words k holds stream 4k + i), then join the
  // streams in order: result = shift(result) ^ next.
  const pairs01Low = low8(registerBytes0, registerBytes1), pairs01High = high8(registerBytes0, registerBytes1);
  const pairs23Low = low8(registerBytes2, registerBytes3), pairs23High = high8(registerBytes2, registerBytes3);
  const words0 = low16(pairs01Low, pairs23Low), words1 = high16(pairs01Low, pairs23Low);
  const words2 = low16(pairs01High, pairs23High), words3 = high16(pairs01High, pairs23High);
  let result = i32x4.extract_lane(words0, 0);
  result = shiftRegister(shiftTables, result) ^ i32x4.extract_lane(words0, 1);
  result = shiftRegister(shiftTables, result) ^ i32x4.extract_lane(words0, 2);
  result = shiftRegister(shiftTables, result) ^ i32x4.extract_lane(words0, 3);
  result = shiftRegister(shiftTables, result) ^ i32x4.extract_lane(words1, 0);
  result = shiftRegister(shiftTables, result) ^ i32x4.extract_lane(words1, 1);
  result = shiftRegister(shiftTables, result) ^ i32x4.extract_lane(words1, 2);
  result = shiftRegister(shiftTables, result) ^ i32x4.extract_lane(words1, 3);
  result = shiftRegister(shiftTables, result) ^ i32x4.extract_lane(words2, 0);
  result = shiftRegister(shiftTables, result) ^ i32x4.extract_lane(words2, 1);
  result = shiftRegister(shiftTables, result) ^ i32x4.extract_lane(words2, 2);
  result = shiftRegister(shiftTables, result) ^ i32x4.extract_lane(words2, 3);
  result = shiftRegister(shiftTables, result) ^ i32x4.extract_lane(words3, 0);
  result = shiftRegister(shiftTables, result) ^ i32x4.extract_lane(words3, 1);
  result = shiftRegister(shiftTables, result) ^ i32x4.extract_lane(words3, 2);
  result = shiftRegister(shiftTables, result) ^ i32x4.extract_lane(words3, 3);
  return result;
}

function sixteenStreamsLarge(pointer: usize, register: u32): u32 {
  return sixteenStreams(pointer, register, STREAM_BYTES_LARGE, SHIFT_TABLES_LARGE);
}

function sixteenStreamsSmall(pointer: usize, register: u32): u32 {
  return sixteenStreams(pointer, register, STREAM_BYTES_SMALL, SHIFT_TABLES_SMALL);
}

/**
 * Slicing-by-16: the 12 bytes that do not touch the register are looked up first, off the
 * dependency chain, and the register's 4 lookups are joined last in a balanced tree.
 */
function slicingBy16(pointer: usize, end: usize, register: u32): u32 {
  while (pointer + 16 <= end) {
    const independent = ((slicing(11, load<u8>(pointer, 4)) ^ slicing(10, load<u8>(pointer, 5)))
      ^ (slicing(9, load<u8>(pointer, 6)) ^ slicing(8, load<u8>(pointer, 7))))
      ^ ((slicing(7, load<u8>(pointer, 8)) ^ slicing(6, load<u8>(pointer, 9)))
      ^ (slicing(5, load<u8>(pointer, 10)) ^ slicing(4, load<u8>(pointer, 11))))
      ^ ((slicing(3, load<u8>(pointer, 12)) ^ slicing(2, load<u8>(pointer, 13)))
      ^ (slicing(1, load<u8>(pointer, 14)) ^ slicing(0, load<u8>(pointer, 15))));
    const word = load<u32>(pointer) ^ register;
    register = independent ^ (slicing(15, word & 0xff) ^ slicing(14, (word >>> 8) & 0xff))
      ^ (slicing(13, (word >>> 16) & 0xff) ^ slicing(12, word >>> 24));
    pointer += 16;
  }
  while (pointer < end) {
    register = (register >>> 8) ^ slicing(0, (register ^ load<u8>(pointer)) & 0xff);
    pointer++;
  }
  return register;
}

/** Steps the raw register (not complemented) over [pointer, pointer + length). */
function crc32cRegister(pointer: usize, length: usize, register: u32): u32 {
  if (!tablesReady) fillTables();
  const end = pointer + length;
  const largeBlockBytes: usize = STREAM_COUNT * STREAM_BYTES_LARGE;
  const smallBlockBytes: usize = STREAM_COUNT * STREAM_BYTES_SMALL;
  while (end - pointer >= largeBlockBytes) {
    register = sixteenStreamsLarge(pointer, register);
    pointer += largeBlockBytes;
  }
  while (end - pointer >= smallBlockBytes) {
    register = sixteenStreamsSmall(pointer, register);
    pointer += smallBlockBytes;
  }
  return slicingBy16(pointer, end, register);
}

/**
 * CRC32C of [pointer, pointer + length) extending `crc` (0 to start), like LevelDB's
 * crc32c::Extend. Also the entry point for other modules (block.ts) that checksum in place.
 */
export function crc32cCompute(pointer: usize, length: usize, crc: u32): u32 {
  return ~crc32cRegister(pointer, length, ~crc);
}

/** out[i] = crc32c(data[starts[i], ends[i])) for i < count; the host validated every range. */
export function crc32cEachCompute(data: usize, starts: usize, ends: usize, count: u32, out: usize): void {
  for (let i: usize = 0; i < <usize>count; i++) {
    const start = load<u32>(starts + (i << 2));
    const end = load<u32>(ends + (i << 2));
    assert(start <= end);
    store<u32>(out + (i << 2), crc32cCompute(data + start, end - start, 0));
  }
}
