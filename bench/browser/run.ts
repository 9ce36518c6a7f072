/**
 * `npm run bench:browser`: the browser benchmark (bench/browser/worker.ts) in one headless
 * Chromium page (Debian's chromium through playwright-core, as the browser tests), printed as a
 * markdown table with pgz-wasm's ratios to the others. `--quick` runs a tenth of the sizes;
 * `--json FILE` also writes the rows; `--cpu-profile DIRECTORY` writes a Chromium CPU profile of
 * each measured run there (bench/browser/cpu-profile.ts).
 */
import { writeFileSync } from "node:fs";
import { withBrowser } from "../../test/browser/harness.ts";
import { profileWorkers } from "./cpu-profile.ts";
import type { BenchRow, BenchSize } from "./worker.ts";

const quick = process.argv.includes("--quick");
const jsonIndex = process.argv.indexOf("--json");
const profileIndex = process.argv.indexOf("--cpu-profile");
const profileDirectory = profileIndex > 0 ? process.argv[profileIndex + 1]! : undefined;
const size: BenchSize = quick ? { entries: 10_000, durablePuts: 100, largeEntries: 1000, batchEntries: 1000 } : { entries: 100_000, durablePuts: 500, largeEntries: 10_000, batchEntries: 1000 };
if (profileDirectory) size.profile = true;
const PGZ = "pgz (wasm core)";

function format(value: number, unit: string): string {
  if (unit === "ms") return value.toFixed(2);
  return value.toLocaleString("en");
}

/** How many times better pgz-wasm is than `other` (above 1: pgz-wasm is ahead). */
function ratio(row: BenchRow, other: string): string {
  const pgz = row.values[PGZ]!;
  const them = row.values[other]!;
  const times = row.lowerIsBetter ? them / pgz : pgz / them;
  return `${times.toFixed(2)}x`;
}

function table(rows: BenchRow[]): string {
  const names = Object.keys(rows[0]!.values);
  const others = names.filter((name) => name !== PGZ);
  const lines = [
    `| workload | unit | ${names.join(" | ")} | ${others.map((name) => `pgz-wasm vs ${name}`).join(" | ")} |`,
    `|---|---|${names.map(() => "---:").join("|")}|${others.map(() => "---:").join("|")}|`,
  ];
  for (const row of rows) {
    lines.push(`| ${row.workload} | ${row.unit}${row.lowerIsBetter ? " (lower is better)" : ""} | ${names.map((name) => format(row.values[name]!, row.unit)).join(" | ")} | ${others.map((name) => ratio(row, name)).join(" | ")} |`);
  }
  return lines.join("\n");
}

const rows = await withBrowser(
  {
    entries: { "bench-page": "bench/browser/page.ts", "bench-worker": "bench/browser/worker.ts", "browser-worker": "ts/browser/worker.ts" },
    files: { "sqlite3.wasm": "node_modules/@sqlite.org/sqlite-wasm/dist/sqlite3.wasm" },
    path: "/bench/index.html",
    extra: { "/bench/": new URL(".", import.meta.url).pathname },
    isolated: true,
  },
  async ({ page, errors }) => {
    if (!(await page.evaluate(() => globalThis.crossOriginIsolated))) throw new Error("the bench page is not cross-origin isolated: its timer would step by 100 µs");
    page.on("console", (message) => message.text().startsWith("progress ") && console.log(message.text()));
    await page.waitForFunction(() => "pgzBench" in globalThis, undefined, { timeout: 30_000 });
    const profilesWritten = profileDirectory ? await profileWorkers(page, profileDirectory) : undefined;
    try {
      const results = (await page.evaluate(([benchSize, tag]) => (globalThis as any).pgzBench(benchSize, tag), [size, `run${Date.now()}`] as const)) as BenchRow[];
      if (profilesWritten) console.log(`${profilesWritten()} CPU profiles in ${profileDirectory}`);
      return results;
    } catch (error) {
      throw new Error(`${(error as Error).message}\npage errors: ${errors.join("\n")}`);
    }
  },
);
console.log(`\nbench:browser${quick ? " --quick" : ""}, headless Chromium (${process.env.PGZ_CHROMIUM ?? "/usr/bin/chromium"}), one worker, interleaved, cross-origin isolated (5 µs timer):\n`);
console.log(table(rows));
if (jsonIndex > 0) writeFileSync(process.argv[jsonIndex + 1]!, JSON.stringify(rows, null, 2) + "\n");
