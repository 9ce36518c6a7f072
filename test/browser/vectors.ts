/**
 * The core's pinned vectors (test/vectors/*.txt, the same files the Node tests read) checked on
 * one core inside the browser: CRC32C, bloom hashes and filters, and data blocks byte for byte.
 * Returns one line per mismatch; an empty list means every vector matched.
 */
import { encodeInternalKey } from "../../ts/core/entry.ts";
import { bloomHash } from "../../ts/core/pure/bloom.ts";
import type { Core } from "../../ts/core/types.ts";
// esbuild's text loader (test/browser/harness.ts) inlines the files.
import blockText from "../vectors/block.txt";
import bloomText from "../vectors/bloom.txt";
import crcText from "../vectors/crc32c.txt";

const encoder = new TextEncoder();

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function fromHex(hex: string): Uint8Array {
  if (hex === "-") return new Uint8Array(0);
  return Uint8Array.from(hex.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

/** "# comment", input line, "----", expected line (crc32c.txt and bloom.txt). */
function cases(text: string): { comment: string; input: string; expected: string }[] {
  const lines = text.split("\n");
  const result: { comment: string; input: string; expected: string }[] = [];
  let comment = "";
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!;
    if (line.startsWith("#")) comment = line.slice(2);
    if (line.startsWith("#") || line.trim() === "") continue;
    result.push({ comment, input: line, expected: lines[index + 2]! });
    index += 2;
  }
  return result;
}

function crcInput(line: string): Uint8Array {
  const [kind, ...restParts] = line.split(" ");
  const rest = restParts.join(" ");
  if (kind === "text") return encoder.encode(rest);
  if (kind === "hex") return fromHex(rest);
  if (kind === "repeat") return new Uint8Array(Number(restParts[1])).fill(parseInt(restParts[0]!, 16));
  if (kind === "ramp") return Uint8Array.from({ length: Number(rest) }, (_, i) => (i * 131 + 7) & 0xff);
  throw new Error(`crc32c.txt: unknown input ${line}`);
}

function checkCrc(core: Core, failures: string[]): number {
  const all = cases(crcText);
  for (const vector of all) {
    const actual = core.crc32c(crcInput(vector.input));
    if (actual !== parseInt(vector.expected, 16)) failures.push(`crc32c ${vector.comment}: ${actual.toString(16)} != ${vector.expected}`);
  }
  return all.length;
}

function checkBloom(core: Core, failures: string[]): number {
  const all = cases(bloomText);
  for (const vector of all) {
    const [kind, ...args] = vector.input.split(" ");
    if (kind === "hash") {
      const key = fromHex(args[0]!);
      const actual = bloomHash(key, 0, key.length).toString(16).padStart(8, "0");
      if (actual !== vector.expected) failures.push(`bloom hash ${vector.comment}: ${actual} != ${vector.expected}`);
      continue;
    }
    const builder = core.newBloomBuilder();
    for (const key of args.slice(1)) builder.add(fromHex(key));
    const actual = toHex(builder.finish(Number(args[0])));
    builder.free();
    if (actual !== vector.expected) failures.push(`bloom filter ${vector.comment}: ${actual} != ${vector.expected}`);
  }
  return all.length;
}

function checkBlocks(core: Core, failures: string[]): number {
  const chunks = blockText.split(/\n(?==== )/).filter((chunk) => chunk.startsWith("=== "));
  for (const chunk of chunks) {
    const lines = chunk.split("\n").filter((line) => line.trim() !== "" && !line.startsWith("#"));
    const separator = lines.indexOf("----");
    let interval = 16;
    const builderEntries: { key: Uint8Array; value: Uint8Array }[] = [];
    for (const line of lines.slice(1, separator)) {
      const [verb, ...rest] = line.split(" ");
      if (verb === "interval") interval = Number(rest[0]);
      if (verb === "put") builderEntries.push({ key: encodeInternalKey(encoder.encode(rest[0] === "-" ? "" : rest[0]!), Number(rest[1]), Number(rest[2])), value: encoder.encode(rest[3] ?? "") });
    }
    const builder = core.newBlockBuilder(interval);
    for (const { key, value } of builderEntries) builder.add(key, value);
    const actual = toHex(builder.finish());
    builder.free();
    const expected = lines.slice(separator + 1).join("").replace(/\s+/g, "");
    if (actual !== expected) failures.push(`block ${lines[0]!.slice(4)}: ${actual} != ${expected}`);
  }
  return chunks.length;
}

export function runVectors(core: Core): { counts: { crc32c: number; bloom: number; block: number }; failures: string[] } {
  const failures: string[] = [];
  const counts = { crc32c: checkCrc(core, failures), bloom: checkBloom(core, failures), block: checkBlocks(core, failures) };
  return { counts, failures };
}
