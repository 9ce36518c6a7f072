/**
 * What the `pgz` command prints: lines written with backpressure, progress bars on a terminal,
 * entries as text, hex or JSON, and sizes in human units (KiB, MiB, GiB).
 */
import { once } from "node:events";
import process from "node:process";
import { toHex } from "../bytes.ts";
import { printableText } from "./dump.ts";

// Output: lines gathered into chunks, written with backpressure (a 1 GB export never sits in
// memory), and a quiet exit when the reader goes away (`pgz scan db | head`).

const CHUNK_CHARS = 64 * 1024;

export class LineWriter {
  private chunk = "";

  constructor(private readonly stream: NodeJS.WritableStream) {}

  async line(text: string): Promise<void> {
    this.chunk += text + "\n";
    if (this.chunk.length >= CHUNK_CHARS) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.chunk.length === 0) return;
    const chunk = this.chunk;
    this.chunk = "";
    if (!this.stream.write(chunk)) await once(this.stream, "drain");
  }
}

process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw error;
});

// ---------------------------------------------------------------------------------------------
// Progress: a cli-progress bar on stderr, only when stderr is a terminal. cli-progress is
// CommonJS and requires node builtins; in this ESM bundle that needs a `require`, so it is
// loaded on first use, after giving the bundle one (Bun has its own).

export interface Progress {
  update(done: number): void;
  stop(): void;
}

const quietProgress: Progress = { update() {}, stop() {} };

/** What a progress bar counts: bytes show as KiB/MiB/GiB (and MiB/s), anything else as a count. */
export type Unit = "bytes" | "lines" | "entries" | "ops" | "steps";

function amountText(amount: number, unit: Unit): string {
  return unit === "bytes" ? humanBytes(amount) : `${Math.round(amount)} ${unit}`;
}

export async function startProgress(label: string, total: number, unit: Unit, enabled = true): Promise<Progress> {
  if (!enabled || !process.stderr.isTTY) return quietProgress;
  const scope = globalThis as { require?: unknown };
  if (typeof scope.require !== "function") {
    const { createRequire } = await import("node:module");
    scope.require = createRequire(import.meta.url);
  }
  const { default: cliProgress } = await import("cli-progress");
  const counted = total > 0 ? "{percentage}% {done}/{all}" : "{done}";
  const eta = total > 0 ? " | ETA {eta_formatted}" : "";
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] ${counted} | {rate}/s${eta}`, stream: process.stderr, hideCursor: true, etaBuffer: 50 },
    cliProgress.Presets.shades_classic,
  );
  const started = performance.now();
  const texts = (done: number, seconds: number) => ({
    done: amountText(done, unit),
    all: amountText(Math.max(total, done), unit),
    rate: amountText(seconds > 0 ? done / seconds : 0, unit),
  });
  bar.start(Math.max(total, 1), 0, texts(0, 0));
  return {
    update(done) {
      const seconds = (performance.now() - started) / 1000;
      if (total > 0 && done > total) bar.setTotal(done);
      bar.update(done, texts(done, seconds));
    },
    stop() {
      bar.stop();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Entries and sizes as text

export type Format = "text" | "hex" | "json";

// Valid UTF-8, byte for byte (a leading BOM is kept): what JSON output may show as a string.
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function utf8Of(bytes: Uint8Array): string | undefined {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    return undefined;
  }
}

/** One entry as a line in `format` (export and import use the json form). */
export function formatEntry(format: Format, key: Uint8Array, value: Uint8Array | undefined): string {
  if (format === "hex") return value === undefined ? toHex(key) : `${toHex(key)}\t${toHex(value)}`;
  if (format === "text") {
    const show = (bytes: Uint8Array) => printableText(bytes) ?? `0x${toHex(bytes)}`;
    return value === undefined ? show(key) : `${show(key)}\t${show(value)}`;
  }
  const entry: Record<string, string> = {};
  const keyText = utf8Of(key);
  if (keyText === undefined) entry.keyHex = toHex(key);
  else entry.key = keyText;
  if (value !== undefined) {
    const valueText = utf8Of(value);
    if (valueText === undefined) entry.valueHex = toHex(value);
    else entry.value = valueText;
  }
  return JSON.stringify(entry);
}

const units = ["B", "KiB", "MiB", "GiB", "TiB"];
export function humanBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join("  ").trimEnd());
}

export const secondsText = (milliseconds: number) => `${(milliseconds / 1000).toFixed(2)} s`;
