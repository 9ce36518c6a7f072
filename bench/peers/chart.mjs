/**
 * Bar charts (hand-written SVG, no chart library) of a bench/peers results file: one chart per
 * main workload, ops/s per engine, pgz's two cores first. Fills show both passes (default
 * durability, and a sync per batch); reads show the default pass.
 *
 *   node bench/peers/chart.mjs [results.json] [output directory]
 *   (defaults: bench/peers/results-full.json, docs/charts)
 *
 * The in-memory Map is a ceiling far above the rest; the scale is set by the disk engines and a
 * Map bar that does not fit is cut at the edge with its value written beside it.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { operationsPerSecond } from "./report.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const CHARTED = [
  { workload: "fillrandom", title: "fillrandom: 16 B keys, 100 B values, batches of 1,000", passes: ["default", "sync"] },
  { workload: "readrandom", title: "readrandom: point reads of present keys (sync get)", passes: ["default"] },
  { workload: "readseq", title: "readseq: full forward iteration", passes: ["default"] },
  { workload: "fillrandom-large", title: "fillrandom-large: 4 KiB values, batches of 100", passes: ["default", "sync"] },
  { workload: "readrandom-large", title: "readrandom-large: point reads of 4 KiB values", passes: ["default"] },
];
const COLORS = { "pgz-wasm": "#d9480f", "pgz-ts": "#f08c00", map: "#868e96" };
const PEER_COLOR = "#1c7ed6";
const WIDTH = 760;
const LABEL_WIDTH = 150;
const VALUE_WIDTH = 150;
const BAR_HEIGHT = 16;
const BAR_GAP = 3;
const GROUP_GAP = 10;
const TOP = 58;

const escape = (text) => String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const compact = (value) => (value >= 1e6 ? `${(value / 1e6).toFixed(2)}M` : value >= 1e3 ? `${(value / 1e3).toFixed(value >= 1e5 ? 0 : 1)}k` : value.toFixed(0));

/** A round axis maximum and tick step: 1, 2 or 5 times a power of ten, about 5 ticks. */
export function niceAxis(maximum) {
  if (!(maximum > 0)) return { maximum: 1, step: 0.2 };
  const rough = maximum / 5;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((factor) => factor * power).find((candidate) => candidate >= rough);
  return { maximum: Math.ceil(maximum / step) * step, step };
}

export function renderChart(report, { workload, title, passes }) {
  const engines = Object.keys(report.engines);
  const present = passes.filter((pass) => report.results.some((result) => result.pass === pass && result.workload === workload));
  const rows = engines.map((engine) => ({
    engine,
    bars: present.map((pass) => ({ pass, rate: operationsPerSecond(report.results.find((result) => result.pass === pass && result.workload === workload && result.engine === engine)) })),
  })).filter((row) => row.bars.some((bar) => bar.rate));
  if (rows.length === 0) return undefined;
  const onScale = rows.filter((row) => row.engine !== "map").flatMap((row) => row.bars.map((bar) => bar.rate ?? 0));
  const axis = niceAxis(Math.max(...onScale, 1));
  const plotWidth = WIDTH - LABEL_WIDTH - VALUE_WIDTH;
  const x = (value) => LABEL_WIDTH + (Math.min(value, axis.maximum) / axis.maximum) * plotWidth;
  const groupHeight = present.length * (BAR_HEIGHT + BAR_GAP) - BAR_GAP;
  const plotHeight = rows.length * (groupHeight + GROUP_GAP) - GROUP_GAP;
  const height = TOP + plotHeight + 44;
  const parts = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="12">`);
  parts.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  parts.push(`<text x="12" y="22" font-size="15" font-weight="600" fill="#212529">${escape(title)}</text>`);
  const legend = present.length > 1 ? "solid: default durability; light: sync every batch" : "default durability";
  parts.push(`<text x="12" y="40" fill="#495057">${escape(`ops/s, higher is better; ${legend}`)}</text>`);
  for (let tick = 0; tick <= axis.maximum + axis.step / 2; tick += axis.step) {
    const tickX = x(tick).toFixed(1);
    parts.push(`<line x1="${tickX}" y1="${TOP - 4}" x2="${tickX}" y2="${TOP + plotHeight}" stroke="#e9ecef"/>`);
    parts.push(`<text x="${tickX}" y="${TOP + plotHeight + 16}" text-anchor="middle" fill="#868e96">${compact(tick)}</text>`);
  }
  rows.forEach((row, rowIndex) => {
    const groupTop = TOP + rowIndex * (groupHeight + GROUP_GAP);
    const color = COLORS[row.engine] ?? PEER_COLOR;
    const weight = row.engine.startsWith("pgz") ? "600" : "400";
    parts.push(`<text x="${LABEL_WIDTH - 8}" y="${groupTop + groupHeight / 2 + 4}" text-anchor="end" font-weight="${weight}" fill="#212529">${escape(row.engine)}</text>`);
    row.bars.forEach((bar, barIndex) => {
      const barTop = groupTop + barIndex * (BAR_HEIGHT + BAR_GAP);
      if (!bar.rate) {
        parts.push(`<text x="${LABEL_WIDTH + 4}" y="${barTop + BAR_HEIGHT - 4}" fill="#868e96">n/a</text>`);
        return;
      }
      const barWidth = Math.max(1, x(bar.rate) - LABEL_WIDTH);
      const opacity = bar.pass === "sync" ? "0.45" : "1";
      parts.push(`<rect x="${LABEL_WIDTH}" y="${barTop}" width="${barWidth.toFixed(1)}" height="${BAR_HEIGHT}" fill="${color}" fill-opacity="${opacity}"><title>${escape(`${row.engine} ${bar.pass}: ${Math.round(bar.rate).toLocaleString("en-US")} ops/s`)}</title></rect>`);
      const clipped = bar.rate > axis.maximum;
      if (clipped) parts.push(`<path d="M${(x(axis.maximum) - 10).toFixed(1)} ${barTop - 1} l6 ${BAR_HEIGHT + 2} m4 ${-BAR_HEIGHT - 2} l6 ${BAR_HEIGHT + 2}" stroke="#ffffff" stroke-width="3"/>`);
      const label = `${compact(bar.rate)}${bar.pass === "sync" ? " sync" : ""}${clipped ? " (off scale)" : ""}`;
      parts.push(`<text x="${(LABEL_WIDTH + barWidth + 6).toFixed(1)}" y="${barTop + BAR_HEIGHT - 4}" fill="#343a40">${escape(label)}</text>`);
    });
  });
  const keys = workload.includes("large") ? `${report.sizes.largeKeys.toLocaleString("en-US")} keys` : `${report.sizes.keys.toLocaleString("en-US")} keys`;
  parts.push(`<text x="12" y="${height - 8}" fill="#adb5bd">${escape(`${keys}; Node ${report.machine.node}, ${report.machine.nproc} shared CPUs; ${report.startedAt.slice(0, 10)}`)}</text>`);
  parts.push(`<text x="${WIDTH - 12}" y="${height - 8}" text-anchor="end" fill="#adb5bd">npm run bench:peers</text>`);
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

function main() {
  const resultsPath = process.argv[2] ?? join(here, "results-full.json");
  const outputDirectory = process.argv[3] ?? join(here, "..", "..", "docs", "charts");
  const report = JSON.parse(readFileSync(resultsPath, "utf8"));
  mkdirSync(outputDirectory, { recursive: true });
  for (const chart of CHARTED) {
    const svg = renderChart(report, chart);
    if (!svg) continue;
    const path = join(outputDirectory, `peers-${chart.workload}.svg`);
    writeFileSync(path, svg);
    console.log(path);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
