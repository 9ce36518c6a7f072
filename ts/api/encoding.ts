/**
 * Key and value encodings, as the Level ecosystem names them: "binary" (Uint8Array out; a string
 * in is taken as UTF-8, as everywhere in pgz), "utf8" (string out) and "json" (JSON.stringify in,
 * JSON.parse out). Chosen at open (the default for every call) and per call. The engine below
 * only sees bytes.
 */
import { PgzError, invalidArgument } from "../errors.ts";

export type Encoding = "binary" | "utf8" | "json";

export interface EncodingOptions {
  keyEncoding?: Encoding;
  valueEncoding?: Encoding;
}

export interface Encodings {
  keyEncoding: Encoding;
  valueEncoding: Encoding;
}

export const ENCODING_OPTION_NAMES = ["keyEncoding", "valueEncoding"] as const;
export const BINARY: Encodings = { keyEncoding: "binary", valueEncoding: "binary" };
const ENCODINGS = new Set<unknown>(["binary", "utf8", "json"]);

function checkEncoding(value: unknown, name: string): Encoding | undefined {
  if (value !== undefined && !ENCODINGS.has(value)) throw invalidArgument(`option ${name} must be "binary", "utf8" or "json", got ${JSON.stringify(value) ?? String(value)}`);
  return value as Encoding | undefined;
}

/** The encodings `options` ask for, the rest from `fallback`; names are checked by the caller. */
export function resolveEncodings(options: EncodingOptions | undefined, fallback: Encodings): Encodings {
  if (options === undefined || options === null || typeof options !== "object") return fallback;
  const keyEncoding = checkEncoding(options.keyEncoding, "keyEncoding") ?? fallback.keyEncoding;
  const valueEncoding = checkEncoding(options.valueEncoding, "valueEncoding") ?? fallback.valueEncoding;
  return keyEncoding === fallback.keyEncoding && valueEncoding === fallback.valueEncoding ? fallback : { keyEncoding, valueEncoding };
}

export function isBinary(encodings: Encodings): boolean {
  return encodings.keyEncoding === "binary" && encodings.valueEncoding === "binary";
}

/** A key or value as the engine takes it (bytes, or a string it stores as UTF-8). */
export function encode(input: unknown, encoding: Encoding, what: string): Uint8Array | string {
  if (encoding !== "json") return input as Uint8Array | string;
  let text: string | undefined;
  try {
    text = JSON.stringify(input);
  } catch (error) {
    throw new PgzError("PGZ_INVALID_ARGUMENT", `${what} cannot be encoded as JSON: ${(error as Error).message}`, { cause: error });
  }
  if (text === undefined) throw invalidArgument(`${what} cannot be encoded as JSON (${typeof input})`);
  return text;
}

const utf8 = new TextDecoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Stored bytes as `encoding` gives them back; PGZ_DECODE_FAILED for JSON that does not parse. */
export function decode(bytes: Uint8Array, encoding: Encoding, what: string): unknown {
  if (encoding === "binary") return bytes;
  if (encoding === "utf8") return utf8.decode(bytes);
  try {
    return JSON.parse(strictUtf8.decode(bytes));
  } catch (error) {
    const shown = utf8.decode(bytes.subarray(0, 40));
    throw new PgzError("PGZ_DECODE_FAILED", `${what} is not JSON (valueEncoding or keyEncoding "json"): ${JSON.stringify(shown)}${bytes.length > 40 ? "..." : ""}`, { cause: error });
  }
}

/** An iterator of decoded pairs over one of raw pairs; closing it closes the raw one. */
export function decodedPairs<K, V>(raw: Generator<[Uint8Array, Uint8Array], void, undefined>, encodings: Encodings): Generator<[K, V], void, undefined> {
  const decoded = (function* () {
    try {
      for (const [key, value] of raw) yield [decode(key, encodings.keyEncoding, "a key") as K, decode(value, encodings.valueEncoding, "a value") as V] as [K, V];
    } finally {
      raw.return(undefined);
    }
  })();
  // A generator's finally runs only once it has started: close the raw one (its read point) here too.
  const closeDecoded = decoded.return.bind(decoded);
  decoded.return = (value) => {
    raw.return(undefined);
    return closeDecoded(value);
  };
  return decoded;
}

