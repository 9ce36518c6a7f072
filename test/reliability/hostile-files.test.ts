/**
 * Hostile files, whole-file operations (issue 12): on a closed database, each file kind
 * (SUPERBLOCK, MANIFEST, .sst, .vlog, LOCK) is deleted, truncated (to 0, to half, by one byte),
 * inflated (zeros appended, extended sparsely to 2 GiB), swapped with and copied over another of
 * its kind, copied to a higher number, replaced by an unrelated database's, and renamed to a
 * stray name. Each damaged directory is opened twice in turn; every key is read, everything is
 * iterated both ways, check() runs. The answer is exactly the data written, or PgzError
 * PGZ_CORRUPTION (PGZ_LOCKED for a LOCK): never a wrong value, a key lost without an error, a
 * non-PgzError, another code, a read of a whole huge file, a crash or a hang. Byte damage inside
 * files is bit-rot.test.ts. The cases run in a child process per core and seed
 * (fixtures/hostile-files-runner.ts) under a watchdog. PGZ_LONG=1 runs more seeds.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fileURLToPath } from "node:url";
import { runChild } from "./fixtures/child.ts";
import { reportCases } from "./fixtures/summary.ts";
import { emptyTally, type Tally } from "./fixtures/hostile-files-tally.ts";

const runner = fileURLToPath(new URL("./fixtures/hostile-files-runner.ts", import.meta.url));
const LONG = process.env.PGZ_LONG === "1";
/** Cases per seed: every operation on every kind (fewer would mean a kind went missing). */
const CASES_PER_SEED_MIN = 75;

/** Runs one seed's child; a hang or a crash fails at once, violations are returned to be counted. */
async function campaign(core: string, seed: number): Promise<{ summary: Tally; violations: string[] }> {
  const result = await runChild(runner, [core, String(seed), LONG ? "long" : "short"]);
  const started = result.lines.filter((line) => line.startsWith("start ")).pop();
  assert.ok(!result.hung, `the child hung in: ${started}`);
  assert.is(result.code, 0, `the child died (${result.signal ?? result.code}) in: ${started}; ${result.stderr.slice(0, 2000)}`);
  const summary = JSON.parse(result.lines.find((line) => line.startsWith("summary "))!.slice(8)) as Tally;
  assert.ok(summary.cases >= CASES_PER_SEED_MIN, `ran ${summary.cases} cases`);
  assert.is(summary.exact + summary.refused + casesWithViolations(result.lines), summary.cases, "every case has one outcome");
  return { summary, violations: result.lines.filter((line) => line.startsWith("violation ")) };
}

const casesWithViolations = (lines: string[]) => lines.filter((line) => line.startsWith("case ") && line.includes(`"outcome":"violation"`)).length;

for (const core of ["ts", "wasm"] as const) {
  test(`${core}: files deleted, truncated, inflated, swapped, duplicated, replaced or renamed give the right data or PGZ_CORRUPTION, never a wrong answer`, async () => {
    const seeds = LONG ? 6 : 1;
    const total = emptyTally();
    const violations: string[] = [];
    for (let index = 0; index < seeds; index++) {
      const result = await campaign(core, 12_000 + index * 10 + (core === "wasm" ? 1 : 0));
      for (const key of Object.keys(total) as (keyof Tally)[]) total[key] += result.summary[key];
      violations.push(...result.violations);
    }
    const counts = `${total.cases} cases: data lost ${total.lost}, wrong values ${total.wrong}, non-PgzError ${total.nonPgz}, other codes ${total.otherCode}`;
    assert.equal(violations.slice(0, 15), [], `${violations.length} violations (${core}, ${seeds} seeds; ${counts})`);
    reportCases("hostile files: whole-file operations", core, total.cases);
  });
}

test.run();
