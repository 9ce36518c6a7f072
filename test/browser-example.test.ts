/**
 * The example page (examples/browser/) in headless Chromium: served by its own script, it opens
 * a database in a worker, lists the sample contents and the stats, takes a put from its form,
 * and runs the benchmark to the end of its progress bar with a row per workload and a column
 * per engine. A screenshot goes to test/output/ (gitignored).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { launchChromium } from "./browser/harness.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

test("the example page shows contents, stats and a finished benchmark", async () => {
  const server = spawn(process.execPath, [`${root}examples/browser/serve.mjs`, "0"], { stdio: ["ignore", "pipe", "inherit"] });
  const browser = await launchChromium().catch((error) => {
    server.kill();
    throw error;
  });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      server.stdout!.on("data", (chunk: Buffer) => /http:\/\/\S+/.exec(String(chunk))?.[0] && resolve(/http:\/\/\S+/.exec(String(chunk))![0]));
      server.on("exit", (code) => reject(new Error(`serve.mjs exited with ${code}`)));
    });
    const page = await browser.newPage();
    await page.setViewportSize({ width: 1100, height: 1400 });
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(String(error)));
    await page.goto(url);
    await page.waitForFunction(() => document.querySelectorAll("#contents tbody tr").length >= 8, undefined, { timeout: 60_000 });
    assert.match(await page.textContent("#status") ?? "", /Open: "example" on OPFS/);
    assert.is(await page.textContent("#contents tbody tr:first-child td:first-child"), "fruit:apple");
    assert.match(await page.textContent("#stats") ?? "", /OPFS slots\d+ files in \d+ slots/);
    await page.fill("input[name=key]", "fruit:zucchini");
    await page.fill("input[name=value]", "not a fruit");
    await page.click("#put button");
    await page.waitForFunction(() => document.querySelector("#contents")!.textContent!.includes("not a fruit"), undefined, { timeout: 30_000 });
    assert.match(await page.textContent("#count") ?? "", /\(9 keys\)/);
    await page.click("#run");
    await page.waitForFunction(() => document.querySelector("#phase")!.textContent === "done" || document.querySelector("#phase")!.textContent!.startsWith("failed"), undefined, { timeout: 600_000 });
    assert.is(await page.textContent("#phase"), "done", errors.join("\n"));
    const progress = await page.$eval("#progress", (bar) => [(bar as HTMLProgressElement).value, (bar as HTMLProgressElement).max]);
    assert.ok(progress[0]! > 0 && progress[0] === progress[1], `progress bar at the end: ${progress}`);
    const header = await page.$$eval("#results thead th", (cells) => cells.map((cell) => cell.textContent));
    assert.equal(header.slice(2), ["pgz (wasm core)", "pgz (ts core)", "SQLite-WASM (opfs-sahpool)", "IndexedDB", "browser-level"]);
    assert.is((await page.$$("#results tbody tr")).length, 7);
    mkdirSync(`${root}test/output`, { recursive: true });
    await page.screenshot({ path: `${root}test/output/browser-example.png`, fullPage: true });
    assert.equal(errors, []);
  } finally {
    await browser.close();
    server.kill();
  }
});

test.run();
