/**
 * The built bundle in real Deno and Bun (from the deno and bun npm packages) and in Node: core
 * vectors on both cores and a database written, closed, reopened, read back and checked.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { removeDirectory, temporaryDirectory } from "./helpers.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const smoke = fileURLToPath(new URL("./runtimes/smoke.mjs", import.meta.url));

const runtimes: Record<string, (directory: string) => string[]> = {
  node: (directory) => [process.execPath, smoke, directory],
  deno: (directory) => [`${root}node_modules/.bin/deno`, "run", "--quiet", "--allow-read", "--allow-write", "--allow-env", "--allow-sys", smoke, directory],
  bun: (directory) => [`${root}node_modules/.bin/bun`, smoke, directory],
};

test("the bundle is built", () => {
  assert.ok(existsSync(`${root}dist/pgz.mjs`), "run npm run build (npm install does it)");
});

for (const [runtime, command] of Object.entries(runtimes)) {
  test(`${runtime}: core vectors and a database round trip through dist/pgz.mjs`, () => {
    const directory = temporaryDirectory(`pgz-${runtime}`);
    try {
      const [program, ...args] = command(directory);
      const child = spawnSync(program!, args, { encoding: "utf8", timeout: 120_000, env: { ...process.env, DENO_NO_UPDATE_CHECK: "1" } });
      assert.is(child.status, 0, `${runtime} failed: ${child.stderr}`);
      const result = JSON.parse(child.stdout.trim().split("\n").pop()!);
      for (const core of ["wasm", "ts"]) {
        assert.is(result.crc[core], "e3069283");
        assert.is(result.bloom[core], true);
        assert.equal(result.database[core], { count: 499, first: "key-0001", value: "value-499", check: true });
        assert.is(result.background[core], "worker", `${runtime} runs flushes and compactions on the worker`);
      }
    } finally {
      removeDirectory(directory);
    }
  });
}

test.run();
