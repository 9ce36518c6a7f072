/**
 * pgz in a real headless Chromium (Debian's chromium, driven by playwright-core; missing
 * Chromium fails the suite, it never skips): pgz/browser bundles with no node: import; on OPFS
 * in a dedicated worker the core vectors pass on both cores, OpfsStorage keeps its POSIX-like
 * promises, the model test against a Map with reopens agrees on both cores; through
 * openInWorker the proxy's API works (a task's calls share one message), a second opener is
 * PGZ_LOCKED or waits, and terminating the worker mid-write loses no acknowledged write.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";
import { noNodeImports, withBrowser, type BrowserSession } from "./browser/harness.ts";
import { removeDirectory, temporaryDirectory } from "./helpers.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const ENTRIES = {
  "page": "test/browser/page.ts",
  "suite-worker": "test/browser/suite-worker.ts",
  "browser-worker": "ts/browser/worker.ts",
};
const CORES = ["wasm", "ts"] as const;

test("pgz/browser bundles for the browser platform with no node: import", async () => {
  for (const entry of ["ts/browser.ts", "ts/browser/worker.ts"]) {
    const result = await build({ entryPoints: [`${root}${entry}`], bundle: true, write: false, format: "esm", platform: "browser", metafile: true, logLevel: "silent", plugins: [noNodeImports] });
    const inputs = Object.keys(result.metafile.inputs);
    assert.ok(inputs.some((input) => input.endsWith("ts/storage/opfs.ts")), `${entry} bundles the OPFS backend`);
    assert.not.ok(inputs.some((input) => input.endsWith("ts/storage/node.ts") || input.endsWith("ts/storage/lock.ts")), `${entry} reaches the Node backend`);
  }
  // The check itself fails on a node: import.
  const failing = build({ stdin: { contents: 'import "node:fs";', resolveDir: root }, bundle: true, write: false, platform: "browser", logLevel: "silent", plugins: [noNodeImports] });
  await failing.then(() => assert.unreachable("a node: import was bundled"), (error: Error) => assert.match(error.message, /must reach no node: module/));
});

test("pgz/browser loads where there is no SharedArrayBuffer (a page that is not cross-origin isolated)", async () => {
  const directory = temporaryDirectory("pgz-browser-bundle");
  try {
    for (const entry of ["ts/browser.ts", "ts/browser/worker.ts"]) {
      const result = await build({ entryPoints: [`${root}${entry}`], bundle: true, write: false, format: "esm", platform: "browser", logLevel: "silent" });
      const bundle = join(directory, "bundle.mjs");
      writeFileSync(bundle, result.outputFiles[0]!.contents);
      // Node stands in for the page: only the module's top-level code runs.
      const script = `delete globalThis.SharedArrayBuffer; try { await import(${JSON.stringify(pathToFileURL(bundle).href)}); console.log("loaded"); } catch (error) { console.log(String(error)); }`;
      const loaded = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
      assert.is(loaded.stdout.trim(), "loaded", `${entry}: ${loaded.stderr}`);
    }
  } finally {
    removeDirectory(directory);
  }
});

async function run<T>(session: BrowserSession, name: string, ...args: unknown[]): Promise<T> {
  await session.page.waitForFunction(() => (globalThis as { pgzReady?: boolean }).pgzReady === true, undefined, { timeout: 30_000 });
  const started = performance.now();
  try {
    return (await session.page.evaluate(([method, parameters]) => (globalThis as any).pgzSuite[method as string](...(parameters as unknown[])), [name, args] as const)) as T;
  } catch (error) {
    throw new Error(`${name} failed in Chromium: ${(error as Error).message}\npage errors: ${session.errors.join("\n")}`);
  } finally {
    if (process.env.PGZ_BROWSER_TIMES) console.log(`${name} ${JSON.stringify(args)}: ${Math.round(performance.now() - started)} ms`);
  }
}

test("in headless Chromium: vectors, OPFS storage, model with reopens, proxy, lock, worker-termination crash", async () => {
  await withBrowser({ entries: ENTRIES, path: "/suite/index.html", extra: { "/suite/": `${root}test/browser/` } }, async (session) => {
    const vectors = await run<Record<string, { counts: Record<string, number>; failures: string[] }>>(session, "inWorker", "vectors");
    for (const core of CORES) {
      assert.equal(vectors[core]!.failures, [], `${core} vectors`);
      assert.ok(vectors[core]!.counts.crc32c >= 10 && vectors[core]!.counts.bloom >= 10 && vectors[core]!.counts.block >= 3, `${core} vector counts ${JSON.stringify(vectors[core]!.counts)}`);
    }

    assert.equal(await run(session, "inWorker", "storage", "storage-checks"), [], "OpfsStorage");

    for (const [index, core] of CORES.entries()) {
      const seed = 1000 + index;
      const model = await run<{ failure?: string; operations: Record<string, number> }>(session, "inWorker", "model", { name: `model-${core}`, core, seed, steps: 1200 });
      assert.is(model.failure, undefined, `model (seed ${seed})`);
      assert.ok((model.operations.reopen ?? 0) >= 30, `reopens: ${JSON.stringify(model.operations)}`);
    }

    for (const core of CORES) {
      const proxy = await run<{ failures: string[]; messagesForManyGets: number }>(session, "proxyChecks", `proxy-${core}`, core);
      assert.equal(proxy.failures, [], "proxy");
      assert.is(proxy.messagesForManyGets, 1, "2,000 gets made in one task travel in one message");
    }

    assert.equal(await run(session, "lockChecks", "lock"), [], "Web Lock");

    for (const [index, core] of CORES.entries()) {
      const crash = await run<{ acknowledged: number; lost: number; wrong: number; rounds: number }>(session, "crashChecks", `crash-${core}`, core, 8, 77 + index);
      assert.ok(crash.acknowledged > 1000, `too few writes were acknowledged to mean anything: ${JSON.stringify(crash)}`);
      assert.is(crash.lost, 0, `acknowledged writes lost: ${JSON.stringify(crash)}`);
      assert.is(crash.wrong, 0, `wrong values or a failed check: ${JSON.stringify(crash)}`);
    }
  });
});

test.run();
