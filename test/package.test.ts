/**
 * The package as a consumer gets it: `npm pack` (which builds, in prepack), the tarball
 * installed into an empty project offline (from the npm cache `npm ci` filled), the README's
 * quick starts run there on Node, Deno and Bun, the `pgz` bin, and a consumer file
 * type-checked against `pgz` and `pgz/level` under node16 and bundler resolution.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DB } from "../ts/index.ts";
import { removeDirectory, temporaryDirectory } from "./helpers.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const workspace = temporaryDirectory("pgz-package");
const consumer = join(workspace, "consumer");
const manifest = JSON.parse(readFileSync(`${root}package.json`, "utf8")) as { version: string; dependencies: Record<string, string> };

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(program: string, args: string[], cwd: string): Run {
  const env = { ...process.env, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", npm_config_update_notifier: "false" };
  const child = spawnSync(program, args, { cwd, encoding: "utf8", timeout: 300_000, maxBuffer: 1 << 26, env });
  return { status: child.status, stdout: child.stdout, stderr: child.stderr };
}

function succeeds(program: string, args: string[], cwd: string): Run {
  const result = run(program, args, cwd);
  assert.is(result.status, 0, `${program} ${args.join(" ")} failed in ${cwd}:\n${result.stderr}${result.stdout}`);
  return result;
}

/** The files of the installed package, relative to its root. */
function packageFiles(directory: string, prefix = ""): string[] {
  return readdirSync(join(directory, prefix), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? packageFiles(directory, join(prefix, entry.name)) : [join(prefix, entry.name)],
  );
}

/**
 * A lock file for the consumer: pgz from the tarball, and its dependencies pinned to the
 * versions and integrities of this project's lock, so `npm ci --offline` takes them from the
 * cache `npm ci` filled (installing by name would need registry metadata the cache lacks).
 */
function consumerLock(tarball: string): object {
  const parent = JSON.parse(readFileSync(`${root}package-lock.json`, "utf8")) as { packages: Record<string, Record<string, unknown>> };
  const packages: Record<string, object> = {
    "": { name: "consumer", version: "1.0.0", dependencies: { pgz: `file:${tarball}` } },
    "node_modules/pgz": { version: manifest.version, resolved: `file:${tarball}`, dependencies: manifest.dependencies, bin: { pgz: "dist/cli.mjs" } },
  };
  const pending = Object.keys(manifest.dependencies);
  while (pending.length > 0) {
    const path = `node_modules/${pending.pop()}`;
    if (packages[path]) continue;
    const entry = parent.packages[path];
    assert.ok(entry, `${path} is in package-lock.json`);
    const { dev: _dev, ...kept } = entry;
    packages[path] = kept;
    pending.push(...Object.keys((entry.dependencies as Record<string, string> | undefined) ?? {}));
  }
  return { name: "consumer", version: "1.0.0", lockfileVersion: 3, requires: true, packages };
}

/** The first ```js block after `heading` in the README. */
function readmeExample(heading: string): string {
  const readme = readFileSync(`${root}README.md`, "utf8");
  const start = readme.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `README has ${heading}`);
  const match = /```js\n([\s\S]*?)```/.exec(readme.slice(start));
  assert.ok(match, `a js example under ${heading}`);
  return match[1]!;
}

let tarball = "";

test("npm pack builds a tarball that ships one engine, no debug wasm and no install scripts", () => {
  const packed = succeeds("npm", ["pack", "--json", "--pack-destination", workspace], root);
  const [report] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf("["))) as { filename: string; files: { path: string }[] }[];
  tarball = join(workspace, report!.filename);
  const paths = report!.files.map((file) => file.path);
  assert.ok(paths.includes("dist/pgz.mjs") && paths.includes("dist/cli.mjs") && paths.includes("dist/level.mjs"), paths.join(", "));
  assert.not.ok(readdirSync(root).includes("package.json.before-pack"), "postpack restored package.json");
  assert.ok(JSON.parse(readFileSync(`${root}package.json`, "utf8")).scripts.prepare, "the clone keeps its prepare script");
});

test("the tarball installs offline into an empty project without running or listing scripts", () => {
  mkdirSync(consumer, { recursive: true });
  writeFileSync(join(consumer, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true, type: "module", dependencies: { pgz: `file:${tarball}` } }));
  writeFileSync(join(consumer, "package-lock.json"), JSON.stringify(consumerLock(tarball), null, 2));
  const installed = succeeds("npm", ["ci", "--offline", "--no-audit", "--no-fund"], consumer);
  assert.not.match(installed.stderr, /install-scripts|prepare/, `npm warned: ${installed.stderr}`);
  const installedManifest = JSON.parse(readFileSync(join(consumer, "node_modules/pgz/package.json"), "utf8"));
  for (const script of ["preinstall", "install", "postinstall", "prepare"]) assert.is(installedManifest.scripts?.[script], undefined, `no ${script} script`);
});

test("the installed package holds the release wasm once, the debug wasm nowhere, and no base64 in types", () => {
  const directory = join(consumer, "node_modules/pgz");
  const files = packageFiles(directory);
  const texts = new Map(files.map((file) => [file, readFileSync(join(directory, file), "utf8")]));
  // A slice from the middle of each build's base64: what would be there if it were embedded.
  const sliceOf = (build: string) => {
    const base64 = /"([A-Za-z0-9+/=]+)"/.exec(readFileSync(`${root}wasm-build/${build}.wasm.ts`, "utf8"))![1]!;
    return base64.slice(base64.length >> 1, (base64.length >> 1) + 80);
  };
  const holding = (needle: string) => files.filter((file) => texts.get(file)!.includes(needle));
  assert.equal(holding(sliceOf("debug")), [], "the debug wasm is not shipped");
  // One copy per platform: the Node chunk (pgz.mjs, cli.mjs) and the browser chunk (pgz/browser).
  const release = holding(sliceOf("release"));
  const [browserChunk, ...browserRest] = release.filter((file) => file.startsWith("dist/chunks/browser-"));
  const [nodeChunk, ...nodeRest] = release.filter((file) => !file.startsWith("dist/chunks/browser-"));
  assert.is(release.length, 2, `the release wasm is in exactly one file per platform: ${release.join(", ")}`);
  assert.ok(nodeChunk?.startsWith("dist/chunks/") && nodeRest.length === 0, "Node: in the chunk both entry points share");
  assert.ok(browserChunk !== undefined && browserRest.length === 0, "browser: in the chunk both browser entry points share");
  for (const entry of ["dist/pgz.mjs", "dist/cli.mjs"]) assert.ok(texts.get(entry)!.includes(`./chunks/${nodeChunk!.slice("dist/chunks/".length)}`), `${entry} imports the engine chunk`);
  for (const entry of ["dist/browser.mjs", "dist/browser-worker.mjs"]) assert.ok(texts.get(entry)!.includes(`./chunks/${browserChunk!.slice("dist/chunks/".length)}`), `${entry} imports the browser engine chunk`);
  assert.ok(texts.get("dist/level.mjs")!.includes('from "./pgz.mjs"'), "pgz/level imports the engine");
  assert.ok(texts.get("dist/level.mjs")!.includes('from "abstract-level"'), "pgz/level imports abstract-level, not a bundled copy");
  for (const file of files.filter((name) => name.endsWith(".d.ts"))) assert.ok(texts.get(file)!.length < 20_000, `${file} is ${texts.get(file)!.length} characters`);
});

/** Runs `source` as a module in a fresh folder of the consumer project. */
function runExample(runtime: string, name: string, source: string): string {
  const directory = join(consumer, `${runtime}-${name}`);
  mkdirSync(directory);
  writeFileSync(join(directory, "example.mjs"), source);
  const commands: Record<string, string[]> = {
    node: [process.execPath, "example.mjs"],
    // Exactly the flags the README names for Deno.
    deno: [`${root}node_modules/.bin/deno`, "run", "--quiet", "--allow-read", "--allow-write", "example.mjs"],
    bun: [`${root}node_modules/.bin/bun`, "example.mjs"],
  };
  const [program, ...args] = commands[runtime]!;
  succeeds(program!, args, directory);
  return directory;
}

for (const runtime of ["node", "deno", "bun"]) {
  test(`${runtime}: the README quick starts run against the installed package`, async () => {
    const directory = runExample(runtime, "quick-start", readmeExample("## Quick start"));
    const db = DB.open(join(directory, "data"), { createIfMissing: false });
    try {
      assert.is(new TextDecoder().decode(db.get("user:2")), "Grace");
      assert.is(db.get("user:1"), undefined, "the batch deleted user:1");
    } finally {
      db.close();
    }
    const levelDirectory = runExample(runtime, "level", readmeExample("## abstract-level adapter"));
    const level = DB.open(join(levelDirectory, "data"), { createIfMissing: false });
    try {
      assert.equal(JSON.parse(new TextDecoder().decode(level.get("user:1"))), { name: "Ada" }, "stored as JSON");
    } finally {
      level.close();
    }
  });
}

test("the installed pgz bin: --version, and a read of the quick start's database", () => {
  const bin = join(consumer, "node_modules/.bin/pgz");
  assert.equal(succeeds(bin, ["--version"], consumer).stdout.trim(), manifest.version);
  assert.equal(succeeds(bin, ["get", "node-quick-start/data", "user:2"], consumer).stdout.trim(), "Grace");
});

const consumerSource = `import { DB, PgzError, type OpenOptions } from "pgz";
import { PgzLevel } from "pgz/level";

interface User { name: string }
const options: OpenOptions = { core: "ts" };
const db = DB.open("./data", options);
const bytes: Uint8Array | undefined = db.get("user:1");
db.close();
const level = new PgzLevel<string, User>("./level", { valueEncoding: "json", core: "wasm" });
await level.put("user:1", { name: "Ada" });
const user: User | undefined = await level.get("user:1");
const plain = new PgzLevel("./plain");
const text: string | undefined = await plain.get("key");
export { bytes, user, text, PgzError };
`;

/** tsc from this project on `source` in the consumer; typescript and @types/node come from here. */
function typeCheck(resolution: "node16" | "bundler", source: string): Run {
  const directory = join(consumer, `types-${resolution}-${readdirSync(consumer).length}`);
  mkdirSync(directory);
  writeFileSync(join(directory, "consumer.ts"), source);
  const compilerOptions = {
    strict: true,
    noEmit: true,
    target: "es2022",
    lib: ["es2022", "esnext.disposable"],
    module: resolution === "node16" ? "node16" : "esnext",
    moduleResolution: resolution,
    types: ["node"],
    typeRoots: [`${root}node_modules/@types`],
  };
  // node16 reads the module kind from the nearest package.json: the consumer's says "module".
  writeFileSync(join(directory, "tsconfig.json"), JSON.stringify({ compilerOptions, files: ["consumer.ts"] }));
  return run(process.execPath, [`${root}node_modules/typescript/bin/tsc`, "-p", "tsconfig.json"], directory);
}

for (const resolution of ["node16", "bundler"] as const) {
  test(`a consumer type-checks against pgz and pgz/level (json values) with moduleResolution ${resolution}`, () => {
    const checked = typeCheck(resolution, consumerSource);
    assert.is(checked.status, 0, checked.stdout + checked.stderr);
    // The same file with a wrong value type must fail: the check really sees PgzLevel's types.
    const wrong = typeCheck(resolution, consumerSource.replace('{ name: "Ada" }', "{ name: 42 }"));
    assert.is(wrong.status, 2, wrong.stdout);
    assert.match(wrong.stdout, /consumer\.ts\(10,\d+\): error TS2322/);
  });
}

test.after(() => removeDirectory(workspace));

test.run();
