/**
 * The example page: opens a pgz database on OPFS through openInWorker, shows its contents and
 * stats, takes puts from a form, and runs the browser benchmark (bench/browser) with a progress
 * bar. Bundled by serve.mjs.
 */
import { openInWorker, type RemoteDB } from "../../ts/browser.ts";
import { runBenchmark, type BenchSize } from "../../bench/browser/page.ts";

const decoder = new TextDecoder();
const element = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const SAMPLE = ["apple", "banana", "cherry", "damson", "elderberry", "fig", "grape", "huckleberry"];
/** Small enough for a page; `npm run bench:browser` runs the full sizes. */
const EXAMPLE_SIZE: BenchSize = { entries: 2000, durablePuts: 30, largeEntries: 200, batchEntries: 1000 };

function row(cells: string[], numberColumns = new Set<number>()): HTMLTableRowElement {
  const tr = document.createElement("tr");
  cells.forEach((cell, index) => {
    const td = document.createElement("td");
    td.textContent = cell;
    if (numberColumns.has(index)) td.className = "number";
    tr.append(td);
  });
  return tr;
}

async function showContents(db: RemoteDB): Promise<void> {
  const body = element<HTMLTableElement>("contents").tBodies[0]!;
  body.replaceChildren();
  let count = 0;
  for await (const [key, value] of db.iterate()) {
    if (count++ < 50) body.append(row([decoder.decode(key), decoder.decode(value)]));
  }
  element("count").textContent = `(${count} keys)`;
}

async function showStats(db: RemoteDB): Promise<void> {
  const stats = (await db.stats()) as Record<string, any>;
  const levels = (stats.levels as { files: number; bytes: number }[]).map((level, index) => `L${index}: ${level.files} files, ${level.bytes} B`).join("; ");
  const lines: [string, string][] = [
    ["core", String(stats.core)],
    ["last sequence", String(stats.lastSequence)],
    ["memtable", JSON.stringify(stats.memtable)],
    ["levels", levels || "none"],
    ["log segments", String(stats.log?.segments)],
    ["OPFS slots", `${stats.opfs.files} files in ${stats.opfs.slots} slots (${stats.opfs.free} free)`],
  ];
  element<HTMLTableElement>("stats").tBodies[0]!.replaceChildren(...lines.map((line) => row(line)));
}

async function benchmark(): Promise<void> {
  const bar = element<HTMLProgressElement>("progress");
  const rows = await runBenchmark(EXAMPLE_SIZE, `example-${Date.now()}`, (progress) => {
    bar.max = progress.total;
    bar.value = progress.done;
    element("phase").textContent = progress.label;
  });
  const names = Object.keys(rows[0]!.values);
  const head = document.createElement("tr");
  for (const name of ["workload", "unit", ...names]) head.append(Object.assign(document.createElement("th"), { textContent: name }));
  element<HTMLTableElement>("results").tHead!.replaceChildren(head);
  const numbers = new Set(names.map((_, index) => index + 2));
  element<HTMLTableElement>("results").tBodies[0]!.replaceChildren(...rows.map((result) => row([result.workload, result.unit, ...names.map((name) => result.values[name]!.toLocaleString("en"))], numbers)));
  element("phase").textContent = "done";
}

async function main(): Promise<void> {
  const db = await openInWorker("example", { core: "wasm" });
  if ((await db.get("fruit:apple")) === undefined) {
    await db.batch(SAMPLE.map((name, index) => ({ type: "put" as const, key: `fruit:${name}`, value: `${index + 1} in the basket` })));
  }
  element("status").textContent = `Open: "example" on OPFS, core wasm, in a dedicated worker.`;
  await showContents(db);
  await showStats(db);
  element<HTMLFormElement>("put").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    await db.put(String(form.get("key")), String(form.get("value") ?? ""));
    await showContents(db);
    await showStats(db);
  });
  element("run").addEventListener("click", () => {
    element<HTMLButtonElement>("run").disabled = true;
    benchmark().catch((error) => (element("phase").textContent = `failed: ${error.message}`));
  });
}

main().catch((error) => (element("status").textContent = `failed: ${error.message}`));
