/** Little-endian field helpers for the on-disk encoders and decoders. */
import { invalidArgument } from "./errors.ts";

const TWO_POW_32 = 0x1_0000_0000;
const encoder = new TextEncoder();

/** Writes a non-negative safe integer as a u64 LE. */
export function setUint64(view: DataView, offset: number, value: number): void {
  const low = value % TWO_POW_32;
  view.setUint32(offset, low, true);
  view.setUint32(offset + 4, (value - low) / TWO_POW_32, true);
}

/** Reads a u64 LE; values beyond 2^53 come back imprecise, which decoders treat as corrupt. */
export function getUint64(view: DataView, offset: number): number {
  return view.getUint32(offset + 4, true) * TWO_POW_32 + view.getUint32(offset, true);
}

export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** An 8-character ASCII magic as bytes. */
export function magicBytes(magic: string): Uint8Array {
  return encoder.encode(magic);
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Keys and values: Uint8Array as is, strings as UTF-8; anything else is PGZ_INVALID_ARGUMENT. */
export function toBytes(input: unknown, what: string): Uint8Array {
  if (input instanceof Uint8Array) return input;
  if (typeof input === "string") return encoder.encode(input);
  throw invalidArgument(`${what} must be a Uint8Array or a string, got ${input === null ? "null" : typeof input}`);
}

export function toHex(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += byte.toString(16).padStart(2, "0");
  return text;
}

export function fromHex(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length >> 1);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

/** The smallest byte string greater than every string starting with `prefix`, if any. */
export function prefixEnd(prefix: Uint8Array): Uint8Array | undefined {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i]! !== 0xff) {
      const end = prefix.slice(0, i + 1);
      end[i]!++;
      return end;
    }
  }
  return undefined;
}
