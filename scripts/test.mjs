// `npm test`: every test/**/*.test.ts under uvu in one process (TypeScript through tsx), then
// the plain summary line CI reads: "N passed, N failed". Exit code non-zero on any failure.
import { spawnSync } from "node:child_process";

const root = new URL("..", import.meta.url).pathname;
const pattern = process.argv[2] ?? "\\.test\\.ts$";
const result = spawnSync(
  process.execPath,
  ["--import", "tsx", `${root}node_modules/uvu/bin.js`, "test", pattern],
  { cwd: root, encoding: "utf8", stdio: ["inherit", "pipe", "inherit"], maxBuffer: 1 << 28 },
);
process.stdout.write(result.stdout ?? "");
const plain = (result.stdout ?? "").replace(/\x1b\[[0-9;]*m/g, "");
const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? 0);
const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? 0);
const skipped = Number(/Skipped:\s+(\d+)/.exec(plain)?.[1] ?? 0);
const failed = total - passed - skipped;
const crashed = result.status !== 0 && failed === 0;
console.log(`${passed} passed, ${crashed ? Math.max(1, failed) : failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(result.status !== 0 || failed > 0 || total === 0 ? 1 : 0);
