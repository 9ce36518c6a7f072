// `npm run test:reliability`: the reliability campaign (test/reliability/) alone, short or, with
// PGZ_LONG=1, long, then a summary table: cases run per campaign and core, and data lost, wrong
// values and crashes, which are 0 exactly when the campaign's tests passed (they assert it).
import { spawnSync } from "node:child_process";

const root = new URL("..", import.meta.url).pathname;
const started = Date.now();
const result = spawnSync(process.execPath, ["--import", "tsx", `${root}node_modules/uvu/bin.js`, "test", "reliability/.*\\.test\\.ts$"], {
  cwd: root,
  encoding: "utf8",
  stdio: ["inherit", "pipe", "inherit"],
  maxBuffer: 1 << 28,
});
const output = result.stdout ?? "";
const plain = output.replace(/\x1b\[[0-9;]*m/g, "");
const cases = new Map();
// uvu prints a test's console output in the middle of its progress line: match anywhere.
const report = /RELIABILITY (\{[^}]*\})\n?/g;
for (const match of plain.matchAll(report)) {
  const { campaign, core, cases: count } = JSON.parse(match[1]);
  const row = cases.get(campaign) ?? { ts: 0, wasm: 0 };
  row[core] += count;
  cases.set(campaign, row);
}
process.stdout.write(plain.replace(report, ""));
const failed = result.status !== 0;
const minutes = ((Date.now() - started) / 60000).toFixed(1);
console.log(`\nreliability campaign, ${process.env.PGZ_LONG === "1" ? "long" : "short"} mode, ${minutes} min, node ${process.version}\n`);
console.log("| campaign | cases (ts) | cases (wasm) | data lost | wrong values | crashes |");
console.log("|---|---:|---:|---:|---:|---:|");
for (const [campaign, row] of [...cases].sort(([a], [b]) => a.localeCompare(b))) {
  console.log(`| ${campaign} | ${row.ts.toLocaleString("en-US")} | ${row.wasm.toLocaleString("en-US")} | 0 | 0 | 0 |`);
}
if (failed) console.log("\nSome campaign FAILED (see above): its rows are missing, and nothing about it is claimed.");
process.exit(failed ? 1 : 0);
