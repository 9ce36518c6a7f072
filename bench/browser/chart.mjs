/**
 * Bar charts of a bench:browser results file (`npm run bench:browser -- --json FILE`), in the
 * style of bench/peers/chart.mjs: one SVG per charted workload, one bar per engine, pgz first.
 *
 *   node bench/browser/chart.mjs RESULTS.json [output directory, default docs/charts]
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { niceAxis } from "../peers/chart.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const CHARTED = [
  { file: "browser-fillrandom", match: /^fillrandom [\d,]+ x 100 B/, title: "Browser fillrandom: 16 B keys, 100 B values, durable batches of 1,000" },
  { file: "browser-readrandom", match: /^readrandom [\d,]+$/, title: "Browser readrandom: point reads of present keys" },
  { file: "browser-durable-put", match: /^durable single put p50/, title: "Browser durable single put, each awaited: p50 latency" },
];
const COLORS = { "pgz (wasm core)": "#d9480f", "pgz (ts core)": "#f08c00" };
const WIDTH = 760;
const LABEL_WIDTH = 200;
const VALUE_WIDTH = 110;
const BAR_HEIGHT = 16;
const GAP = 10;
const TOP = 58;

const escape = (text) => String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const compact = (value, unit) => (unit === "ms" ? value.toFixed(value < 10 ? 1 : 0) : value >= 1e6 ? `${(value / 1e6).toFixed(2)}M` : value >= 1e3 ? `${(value / 1e3).toFixed(value >= 1e5 ? 0 : 1)}k` : value.toFixed(0));

function render(row, chartTitle) {
  const writes = /fill|put/.test(row.workload);
  // The durable-put rows carry the bare OPFS write + flush measured beside them: in the title,
  // where it fits, not in the footer.
  const floor = /; bare OPFS 4 KiB write \+ flush: ([\d.]+ ms)/.exec(row.workload);
  const title = floor ? `${chartTitle} (a bare OPFS write + flush: ${floor[1]})` : chartTitle;
  const workload = floor ? row.workload.replace(floor[0], "") : row.workload;
  const engines = Object.keys(row.values).sort((a, b) => Number(!a.startsWith("pgz")) - Number(!b.startsWith("pgz")));
  const axis = niceAxis(Math.max(...Object.values(row.values)));
  const plotWidth = WIDTH - LABEL_WIDTH - VALUE_WIDTH;
  const x = (value) => LABEL_WIDTH + (value / axis.maximum) * plotWidth;
  const plotHeight = engines.length * (BAR_HEIGHT + GAP) - GAP;
  const height = TOP + plotHeight + 44;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="12" y="22" font-size="15" font-weight="600" fill="#212529">${escape(title)}</text>`,
    `<text x="12" y="40" fill="#495057">${escape(`${row.unit}, ${row.lowerIsBetter ? "lower" : "higher"} is better${writes ? "; durable on return (browser-level: IndexedDB's relaxed default)" : ""}`)}</text>`,
  ];
  for (let tick = 0; tick <= axis.maximum + axis.step / 2; tick += axis.step) {
    const tickX = x(tick).toFixed(1);
    parts.push(`<line x1="${tickX}" y1="${TOP - 4}" x2="${tickX}" y2="${TOP + plotHeight}" stroke="#e9ecef"/>`);
    parts.push(`<text x="${tickX}" y="${TOP + plotHeight + 16}" text-anchor="middle" fill="#868e96">${compact(tick, row.unit)}</text>`);
  }
  engines.forEach((engine, index) => {
    const top = TOP + index * (BAR_HEIGHT + GAP);
    const value = row.values[engine];
    const width = Math.max(1, x(value) - LABEL_WIDTH);
    parts.push(`<text x="${LABEL_WIDTH - 8}" y="${top + BAR_HEIGHT - 4}" text-anchor="end" font-weight="${engine.startsWith("pgz") ? 600 : 400}" fill="#212529">${escape(engine)}</text>`);
    parts.push(`<rect x="${LABEL_WIDTH}" y="${top}" width="${width.toFixed(1)}" height="${BAR_HEIGHT}" fill="${COLORS[engine] ?? "#1c7ed6"}"><title>${escape(`${engine}: ${value.toLocaleString("en-US")} ${row.unit}`)}</title></rect>`);
    parts.push(`<text x="${(LABEL_WIDTH + width + 6).toFixed(1)}" y="${top + BAR_HEIGHT - 4}" fill="#343a40">${escape(`${compact(value, row.unit)}${row.unit === "ms" ? " ms" : ""}`)}</text>`);
  });
  parts.push(`<text x="12" y="${height - 8}" fill="#adb5bd">${escape(`${workload}; headless Chromium, one worker, 2 shared CPUs`)}</text>`);
  parts.push(`<text x="${WIDTH - 12}" y="${height - 8}" text-anchor="end" fill="#adb5bd">npm run bench:browser</text>`);
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

const rows = JSON.parse(readFileSync(process.argv[2], "utf8"));
const output = process.argv[3] ?? join(here, "..", "..", "docs", "charts");
mkdirSync(output, { recursive: true });
for (const chart of CHARTED) {
  const row = rows.find((candidate) => chart.match.test(candidate.workload));
  if (!row) continue;
  writeFileSync(join(output, `${chart.file}.svg`), render(row, chart.title));
  console.log(`wrote ${join(output, `${chart.file}.svg`)}`);
}
