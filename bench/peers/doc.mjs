/**
 * Refreshes the generated part of docs/BENCHMARKS.md's "## Peers" section from a results file:
 * everything between the markers `<!-- peers:generated:start -->` and
 * `<!-- peers:generated:end -->` (run facts, the summary table, every workload's table). The
 * written analysis around the markers, and every other section, are left as they are.
 *
 *   node bench/peers/doc.mjs [results.json]      (default bench/peers/results-full.json)
 */
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { renderMarkdown, renderSummary } from "./report.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const START = "<!-- peers:generated:start -->";
const END = "<!-- peers:generated:end -->";

export function generatedBlock(report) {
  const [facts, tables] = splitFacts(renderMarkdown(report));
  return [
    START,
    facts,
    "Operations per second (`pgz-wasm / best disk peer` leaves out the in-memory Map):",
    "",
    renderSummary(report),
    "<details><summary>Every workload: ops/s, MB/s, p50/p99 latency, bytes on disk and written, reopen time, pgz-wasm's ratio to each engine</summary>",
    "",
    tables,
    "</details>",
    END,
  ].join("\n");
}

/** renderMarkdown's run facts and engine table come first, the workload tables after. */
function splitFacts(markdown) {
  const at = markdown.indexOf("### Default durability");
  return [markdown.slice(0, at), markdown.slice(at).replace(/^### /gm, "#### ").replace(/^#### (fill|read|over|delete|seek)/gm, "##### $1")];
}

function main() {
  const report = JSON.parse(readFileSync(process.argv[2] ?? join(here, "results-full.json"), "utf8"));
  const path = join(here, "..", "..", "docs", "BENCHMARKS.md");
  const document = readFileSync(path, "utf8");
  const start = document.indexOf(START);
  const end = document.indexOf(END);
  if (start < 0 || end < start) throw new Error(`${path} has no ${START} ... ${END} region`);
  writeFileSync(path, document.slice(0, start) + generatedBlock(report) + document.slice(end + END.length));
  console.log(`refreshed the generated part of ${path}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
