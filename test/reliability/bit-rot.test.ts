/**
 * Bit rot: for each file kind (SUPERBLOCK copy 0 and copy 1, MANIFEST, .sst data block, index
 * block, filter and footer, .vlog header and records) flip a random bit, flip bytes, zero the
 * whole page, or truncate; then open, get every key, iterate both ways, check(). Each must
 * return exactly the right data or throw PgzError PGZ_CORRUPTION naming the damaged file (and,
 * for a data block or value record, its offset): never wrong data, another error, a crash or a
 * hang. Damage to checksummed bytes that are read must be noticed. One damaged superblock copy
 * is survived silently and repaired. The cases run in a child process per core
 * (fixtures/bit-rot-runner.ts) under a watchdog, so a hang or a crash fails the test by name.
 * PGZ_LONG=1 runs many more damages per kind.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fileURLToPath } from "node:url";
import { runChild } from "./fixtures/child.ts";
import { reportCases } from "./fixtures/summary.ts";

const runner = fileURLToPath(new URL("./fixtures/bit-rot-runner.ts", import.meta.url));
const LONG = process.env.PGZ_LONG === "1";

async function campaign(core: string, seed: number, repetitions: number, state: string): Promise<void> {
  const result = await runChild(runner, [core, String(seed), String(repetitions), state]);
  const started = result.lines.filter((line) => line.startsWith("start ")).pop();
  assert.ok(!result.hung, `the child hung in: ${started}`);
  assert.is(result.code, 0, `the child died (${result.signal ?? result.code}) in: ${started}; ${result.stderr.slice(0, 2000)}`);
  const violations = result.lines.filter((line) => line.startsWith("violation "));
  assert.equal(violations.slice(0, 15), [], `${violations.length} violations (seed ${seed})`);
  const summary = JSON.parse(result.lines.find((line) => line.startsWith("summary "))!.slice(8)) as { cases: number; detected: number };
  assert.ok(summary.cases >= repetitions * 4, `ran ${summary.cases} cases`);
  // At rest, most damage must be reported. After a manifest rewrite only superblock copies are
  // damaged, and one damaged copy must be survived silently: there, detection is the failure
  // (the runner reports it as a violation), so no share is required.
  if (state === "at-rest") assert.ok(summary.detected > summary.cases / 2, `only ${summary.detected} of ${summary.cases} damages were detected`);
  reportCases(`bit rot: damaged files (${state})`, core, summary.cases);
}

for (const core of ["ts", "wasm"] as const) {
  test(`${core}: damaged files give the right data or PGZ_CORRUPTION naming the file, never a wrong answer`, async () => {
    await campaign(core, 4_000 + (core === "wasm" ? 1 : 0), LONG ? 40 : 3, "at-rest");
  });

  test(`${core}: after a manifest rewrite, one damaged superblock copy is still survived and repaired`, async () => {
    await campaign(core, 4_100 + (core === "wasm" ? 1 : 0), LONG ? 20 : 2, "rewritten-manifest");
  });
}

test.run();
