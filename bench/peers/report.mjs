/** Renders a results file of bench/peers/run.mjs as Markdown tables. */
import { formatBytes, formatNumber } from "./measure.mjs";

const WORKLOAD_ORDER = ["fillseq", "fillrandom", "overwrite", "deleterandom", "readrandom", "readrandom-fast", "readmissing", "readseq", "readreverse", "seekrandom", "fillrandom-large", "readrandom-large", "fillrandom-64k", "readrandom-64k"];

export const operationsPerSecond = (result) => (result && result.seconds ? result.operations / result.seconds : undefined);

function latencyCell(result, key) {
  const value = result.latency?.[key];
  if (value === undefined || Number.isNaN(value)) return "-";
  return value >= 1000 ? `${formatNumber(value / 1000, 2)} ms` : `${formatNumber(value, 1)} µs`;
}

const COLUMNS = [
  { title: "ops/s", cell: (result) => formatNumber(operationsPerSecond(result)) },
  { title: "MB/s", cell: (result) => (result.bytes ? formatNumber(result.bytes / result.seconds / 1e6, 1) : "-") },
  { title: "p50", cell: (result) => latencyCell(result, "p50Microseconds") },
  { title: "p99", cell: (result) => latencyCell(result, "p99Microseconds") },
  { title: "on disk after", cell: (result) => formatBytes(result.diskBytes) },
  { title: "write_bytes (whole process)", cell: (result) => formatBytes(result.processWriteBytes) },
  { title: "pgz diskBytesWritten", cell: (result) => formatBytes(result.engineBytesWritten) },
  { title: "reopen", cell: (result) => (result.reopenMilliseconds === undefined ? "-" : `${formatNumber(result.reopenMilliseconds, 1)} ms`) },
];

function workloadTable(report, pass, workload) {
  const rows = report.results.filter((result) => result.pass === pass && result.workload === workload);
  if (rows.length === 0) return "";
  const baseline = operationsPerSecond(rows.find((result) => result.engine === "pgz-wasm"));
  const measured = rows.filter((result) => !result.skipped);
  // A column nobody has a value for (no disk after a read, say) is left out.
  const columns = COLUMNS.filter((column) => measured.some((result) => column.cell(result) !== "-"));
  const ratio = (result) => {
    const rate = operationsPerSecond(result);
    return baseline && rate ? `${formatNumber(baseline / rate, 2)}x` : "-";
  };
  const lines = [
    `#### ${workload}${measured[0]?.latency ? ` (latency per ${measured[0].latency.per})` : ""}`,
    "",
    `| engine | ${columns.map((column) => column.title).join(" | ")} | pgz-wasm / engine |`,
    `|---|${columns.map(() => "---:").join("|")}|---:|`,
  ];
  for (const result of rows) {
    if (result.skipped) lines.push(`| ${result.engine} | skipped: ${result.skipped} |${" |".repeat(columns.length)}`);
    else lines.push(`| ${result.engine} | ${columns.map((column) => column.cell(result)).join(" | ")} | ${ratio(result)} |`);
  }
  const shapes = rows.filter((result) => result.tables).map((result) => `${result.engine}: ${result.tables}`);
  if (shapes.length) lines.push("", `pgz tables per level after the reopen (every level-0 table is searched by a read): ${shapes.join("; ")}.`);
  return lines.join("\n") + "\n";
}

const compactRate = (value) => (value === undefined ? "-" : value >= 1e6 ? `${(value / 1e6).toFixed(2)}M` : value >= 1e4 ? `${Math.round(value / 1e3)}k` : value >= 1e3 ? `${(value / 1e3).toFixed(1)}k` : value.toFixed(0));

/** One line per workload and pass: ops/s of every engine, and pgz-wasm against the best disk peer. */
export function renderSummary(report) {
  const engines = Object.keys(report.engines);
  const peers = engines.filter((engine) => !engine.startsWith("pgz") && engine !== "map");
  const lines = [`| workload | ${engines.join(" | ")} | pgz-wasm / best disk peer |`, `|---|${engines.map(() => "---:").join("|")}|---:|`];
  for (const pass of ["default", "sync"]) {
    for (const workload of WORKLOAD_ORDER) {
      const rates = engines.map((engine) => operationsPerSecond(report.results.find((result) => result.pass === pass && result.workload === workload && result.engine === engine)));
      if (rates.every((rate) => rate === undefined)) continue;
      const best = Math.max(...peers.map((engine) => rates[engines.indexOf(engine)] ?? 0));
      const wasm = rates[engines.indexOf("pgz-wasm")];
      const ratio = wasm && best ? `${(wasm / best).toFixed(2)}x` : "-";
      lines.push(`| ${workload}${pass === "sync" ? " (sync)" : ""} | ${rates.map(compactRate).join(" | ")} | ${ratio} |`);
    }
  }
  return lines.join("\n") + "\n";
}

export function renderMarkdown(report) {
  const { machine, sizes } = report;
  const out = [];
  out.push(`Machine: ${machine.nproc} CPUs (${machine.cpu}), Node ${machine.node}, temporary directories on ${machine.filesystem ?? "?"}; pgz ${machine.pgzCommit} (dist/pgz.mjs ${machine.bundle}).`);
  out.push(`Load average (1, 5, 15 min) at start ${machine.loadAverageStart}, at end ${machine.loadAverageEnd}; the machine is shared with other work and noisy.`);
  out.push(`Command: \`${machine.command}\` (${formatNumber(report.seconds)} s).`);
  if (report.rounds > 1) out.push(`Every figure is the round with the median ops/s of ${report.rounds} rounds run one after the other (each round every engine in turn); the results file lists every round.`);
  out.push(`Sizes: ${formatNumber(sizes.keys)} x 16 B keys / 100 B values in batches of ${sizes.smallBatch}; ${formatNumber(sizes.largeKeys)} x 4 KiB values in batches of ${sizes.largeBatch}; ${formatNumber(sizes.hugeKeys)} x 64 KiB values in batches of ${sizes.hugeBatch}. Values are half random, half repeated (db_bench's compression ratio 0.5).`);
  out.push("");
  out.push("| engine | version | default pass | sync pass |");
  out.push("|---|---|---|---|");
  for (const [name, engine] of Object.entries(report.engines)) out.push(`| ${name} | ${engine.version} | ${engine.durability.default} | ${engine.durability.sync} |`);
  for (const missing of report.unavailable) out.push(`| ${missing.name} | unavailable | ${missing.reason} | |`);
  out.push("");
  const errors = report.results.filter((result) => result.error);
  for (const error of errors) out.push(`- ${error.engine} (${error.pass} pass) failed: ${error.error}`);
  if (errors.length) out.push("");
  for (const pass of ["default", "sync"]) {
    if (!report.results.some((result) => result.pass === pass)) continue;
    out.push(pass === "default" ? "### Default durability" : "### Every engine syncs every batch");
    out.push("");
    for (const workload of WORKLOAD_ORDER) {
      const table = workloadTable(report, pass, workload);
      if (table) out.push(table);
    }
  }
  return out.join("\n") + "\n";
}
