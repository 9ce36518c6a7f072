// Serves the example page: bundles app.ts, the database worker and the benchmark worker with
// esbuild (a devDependency) into a temporary directory, then serves it and this directory from
// http://127.0.0.1:PORT (a secure context, so OPFS and Web Locks work). `node serve.mjs [port]`.
import { copyFileSync, mkdtempSync, readFileSync, existsSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = fileURLToPath(new URL(".", import.meta.url));
const root = join(here, "../..");
const built = mkdtempSync(join(tmpdir(), "pgz-example-"));
await build({
  entryPoints: { app: join(here, "app.ts"), "browser-worker": join(root, "ts/browser/worker.ts"), "bench-worker": join(root, "bench/browser/worker.ts") },
  outdir: built,
  outExtension: { ".js": ".mjs" },
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  logLevel: "error",
});
copyFileSync(join(root, "node_modules/@sqlite.org/sqlite-wasm/dist/sqlite3.wasm"), join(built, "sqlite3.wasm"));

const types = { ".html": "text/html; charset=utf-8", ".mjs": "text/javascript; charset=utf-8", ".wasm": "application/wasm" };
const server = createServer((request, response) => {
  const path = normalize(new URL(request.url ?? "/", "http://x").pathname).replace(/^\/+/, "") || "index.html";
  const file = [join(built, path), join(here, path)].find((candidate) => !path.includes("..") && existsSync(candidate));
  if (!file) return void response.writeHead(404).end("not found");
  response.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" }).end(readFileSync(file));
});
server.listen(Number(process.argv[2] ?? 8080), "127.0.0.1", () => console.log(`pgz example: http://127.0.0.1:${server.address().port}/`));
