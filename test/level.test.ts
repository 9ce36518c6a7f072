/**
 * PgzLevel against abstract-level's own compliance suite (abstract-level/test, run by tape as
 * its README describes for implementations), on fresh temporary directories. tape's output is
 * captured: only a summary and any failures are printed.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createRequire } from "node:module";
import tape from "tape";
import { readFileSync } from "node:fs";
import ts from "typescript";
import { PGZ_OPEN_OPTION_NAMES, PgzLevel, type PgzLevelOptions } from "../ts/level.ts";
import { removeDirectory, temporaryDirectory } from "./helpers.ts";

const require = createRequire(import.meta.url);
const suite = require("abstract-level/test") as (options: { test: unknown; factory: (options?: PgzLevelOptions) => PgzLevel }) => void;

interface TapeResult {
  type: string;
  ok?: boolean;
  skip?: boolean;
  todo?: boolean;
  name?: string;
  operator?: string;
  actual?: unknown;
  expected?: unknown;
  error?: unknown;
  test?: number;
}

interface SuiteOutcome {
  tests: number;
  passed: number;
  skipped: number;
  failures: string[];
}

/** Runs the whole suite once (the core under it is `core`) and collects tape's results. */
function runSuite(core: "wasm" | "ts"): Promise<SuiteOutcome> {
  const directories: string[] = [];
  const harness = tape.createHarness();
  const outcome: SuiteOutcome = { tests: 0, passed: 0, skipped: 0, failures: [] };
  const testNames = new Map<number, string>();
  return new Promise((resolve) => {
    harness.createStream({ objectMode: true }).on("data", (row: TapeResult & { id?: number }) => {
      if (row.type === "test") {
        outcome.tests++;
        testNames.set(row.id!, row.name ?? "");
      } else if (row.type === "assert") {
        if (row.skip || row.todo) outcome.skipped++;
        else if (row.ok) outcome.passed++;
        else {
          const where = testNames.get(row.test!) ?? "?";
          const detail = row.error instanceof Error ? row.error.stack : `expected ${String(row.expected)}, got ${String(row.actual)}`;
          outcome.failures.push(`${where} :: ${row.name} (${row.operator}) ${detail}`);
        }
      }
    });
    harness.onFinish(() => {
      for (const directory of directories) removeDirectory(directory);
      resolve(outcome);
    });
    suite({
      test: harness,
      factory(options?: PgzLevelOptions) {
        const directory = temporaryDirectory("pgz-level");
        directories.push(directory);
        // Small tables and segments so the suite also crosses flushes and segment rolls.
        return new PgzLevel(directory, { core, memtableBytes: 64 * 1024, ...options });
      },
    });
  });
}

for (const core of ["wasm", "ts"] as const) {
  test(`abstract-level suite passes on PgzLevel (${core} core)`, async () => {
    const outcome = await runSuite(core);
    console.log(`abstract-level suite (${core} core): ${outcome.passed} assertions passed in ${outcome.tests} tests, ${outcome.failures.length} failed, ${outcome.skipped} skipped`);
    for (const failure of outcome.failures) console.log(`  not ok: ${failure}`);
    assert.is(outcome.failures.length, 0, `${outcome.failures.length} abstract-level assertions failed`);
    assert.is(outcome.skipped, 0, "no suite assertion may be skipped");
    assert.ok(outcome.passed > 1000, `the suite ran (${outcome.passed} assertions)`);
  });
}

test("PgzLevel keeps pgz's bytes, options and error codes", async () => {
  const directory = temporaryDirectory("pgz-level");
  try {
    const db = new PgzLevel(directory, { core: "ts", valueThreshold: 8, keyEncoding: "view", valueEncoding: "view" });
    await db.put(new Uint8Array([0xff, 0]), new Uint8Array(100).fill(7));
    const value = await db.get(new Uint8Array([0xff, 0]));
    assert.equal(value, new Uint8Array(100).fill(7));
    assert.is(db.db.stats().core, "ts");
    const second = new PgzLevel(directory);
    try {
      await second.open();
      assert.unreachable("a second open of the same directory must fail");
    } catch (error) {
      const { code, cause } = error as { code: string; cause: { code: string } };
      assert.is(code, "LEVEL_DATABASE_NOT_OPEN");
      assert.is(cause.code, "LEVEL_LOCKED");
    }
    await db.close();
  } finally {
    removeDirectory(directory);
  }
});

test("PgzLevel forwards every pgz open option (but the two abstract-level owns)", () => {
  const source = ts.createSourceFile("options.ts", readFileSync(new URL("../ts/api/options.ts", import.meta.url), "utf8"), ts.ScriptTarget.ES2022, true);
  let properties: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isInterfaceDeclaration(node) && node.name.text === "OpenOptions") {
      properties = node.members.filter(ts.isPropertySignature).map((member) => member.name.getText());
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  // abstract-level owns these (and the encodings, which it applies itself over binary).
  const levelOwned = ["createIfMissing", "errorIfExists", "keyEncoding", "valueEncoding"];
  const expected = properties.filter((name) => !levelOwned.includes(name));
  assert.ok(expected.length > 5, "OpenOptions was found");
  assert.equal([...PGZ_OPEN_OPTION_NAMES].sort(), expected.sort());
});

test.run();
