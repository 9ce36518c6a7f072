// `npm run test:reliability`: the reliability campaign alone, short or, with PGZ_LONG=1, long:
// test/reliability/ plus the model and metamorphic tests (one uvu run; each campaign reports its
// cases), then the hostile-file regression files of issue 12, one uvu run each. Prints summary
// tables: cases per campaign and core, and data lost, wrong values, crashes and non-PgzError
// errors, which are 0 exactly when the campaign's tests passed (they assert it: every outcome is
// the model's data or a PgzError with a documented code). A failed campaign gets no row.
import { spawnSync } from "node:child_process";

const root = new URL("..", import.meta.url).pathname;
const started = Date.now();
const strip = (text) => text.replace(/\x1b\[[0-9;]*m/g, "");

function uvu(pattern) {
  const result = spawnSync(process.execPath, ["--import", "tsx", `${root}node_modules/uvu/bin.js`, "test", pattern], {
    cwd: root,
    encoding: "utf8",
    stdio: ["inherit", "pipe", "inherit"],
    maxBuffer: 1 << 28,
  });
  return { failed: result.status !== 0, plain: strip(result.stdout ?? "") };
}

const campaigns = uvu("(reliability/.*|db-property|metamorphic)\\.test\\.ts$");
const cases = new Map();
// uvu prints a test's console output in the middle of its progress line: match anywhere.
const report = /RELIABILITY (\{[^}]*\})\n?/g;
for (const match of campaigns.plain.matchAll(report)) {
  const { campaign, core, cases: count } = JSON.parse(match[1]);
  const row = cases.get(campaign) ?? { ts: 0, wasm: 0 };
  row[core] += count;
  cases.set(campaign, row);
}
process.stdout.write(campaigns.plain.replace(report, ""));

// Regression files of issue 12: each test opens damaged, swapped, inflated or locked databases on
// both cores and asserts the exact outcome.
const regressionFiles = ["lock", "log-damage", "open-checks", "sstable-identity"];
const regressions = regressionFiles.map((name) => {
  const run = uvu(`^${name}\\.test\\.ts$`);
  process.stdout.write(run.plain);
  return { name, failed: run.failed, passed: Number(/Passed:\s+(\d+)/.exec(run.plain)?.[1] ?? 0) };
});

const failed = campaigns.failed || regressions.some((run) => run.failed);
const minutes = ((Date.now() - started) / 60000).toFixed(1);
console.log(`\nreliability campaign, ${process.env.PGZ_LONG === "1" ? "long" : "short"} mode, ${minutes} min, node ${process.version}\n`);
console.log("| campaign | cases (ts) | cases (wasm) | data lost | wrong values | crashes | non-PgzError errors |");
console.log("|---|---:|---:|---:|---:|---:|---:|");
if (!campaigns.failed) {
  for (const [campaign, row] of [...cases].sort(([a], [b]) => a.localeCompare(b))) {
    console.log(`| ${campaign} | ${row.ts.toLocaleString("en-US")} | ${row.wasm.toLocaleString("en-US")} | 0 | 0 | 0 | 0 |`);
  }
}
console.log("\n| regression file | tests passed (both cores) | data lost | wrong values | crashes | non-PgzError errors |");
console.log("|---|---:|---:|---:|---:|---:|");
for (const run of regressions) if (!run.failed) console.log(`| test/${run.name}.test.ts | ${run.passed} | 0 | 0 | 0 | 0 |`);
if (failed) console.log("\nSome campaign FAILED (see above): its rows are missing, and nothing about it is claimed.");
process.exit(failed ? 1 : 0);
