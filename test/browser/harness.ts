/**
 * Runs code in a real headless Chromium (Debian's `chromium` package, driven by playwright-core,
 * which never downloads a browser): bundles pgz/browser, its worker and the page-side suites
 * with esbuild for the browser platform (a node: import fails the bundle), serves them from
 * http://127.0.0.1 (a secure context, so OPFS and Web Locks exist) with a tiny node:http server,
 * and opens one page per call in a fresh profile.
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { build, type Plugin } from "esbuild";
import { chromium, type BrowserContext, type Page } from "playwright-core";

export const CHROMIUM_PATH = process.env.PGZ_CHROMIUM ?? "/usr/bin/chromium";
const root = fileURLToPath(new URL("../..", import.meta.url));

const MIME_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm",
  ".css": "text/css; charset=utf-8",
  ".png": "image/png",
};

/** Fails the bundle on any node: import, naming the importer: the browser entry must reach none. */
export const noNodeImports: Plugin = {
  name: "no-node-imports",
  setup(builder) {
    builder.onResolve({ filter: /^node:/ }, (args) => ({ errors: [{ text: `${args.importer} imports ${args.path}: pgz/browser must reach no node: module` }] }));
  },
};

/** Bundles `entries` (output name -> source path under the repository) into `directory`. */
export async function bundle(directory: string, entries: Record<string, string>): Promise<void> {
  await build({
    entryPoints: Object.fromEntries(Object.entries(entries).map(([name, path]) => [name, join(root, path)])),
    outdir: directory,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    loader: { ".txt": "text" },
    logLevel: "error",
    plugins: [noNodeImports],
  });
}

/**
 * Serves `directories` (URL prefix -> directory) on 127.0.0.1 at a free port. `isolated` adds
 * the COOP/COEP headers that make pages and their workers cross-origin isolated, which is what
 * gives Chromium's performance.now() 5 µs steps instead of 100 µs (benchmarks want that).
 */
export async function serve(directories: Record<string, string>, isolated = false): Promise<{ server: Server; origin: string }> {
  const isolation = isolated ? { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" } : {};
  const server = createServer((request, response) => {
    const path = normalize(decodeURIComponent(new URL(request.url ?? "/", "http://x").pathname));
    const prefix = Object.keys(directories).sort((a, b) => b.length - a.length).find((candidate) => path.startsWith(candidate));
    const file = prefix === undefined ? undefined : join(directories[prefix]!, path.slice(prefix.length) || "index.html");
    if (file === undefined || file.includes("..") || !existsSync(file)) {
      response.writeHead(404).end("not found");
      return;
    }
    response.writeHead(200, { "content-type": MIME_TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-store", ...isolation });
    response.end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the test server has no port");
  return { server, origin: `http://127.0.0.1:${address.port}` };
}

/**
 * Launches the system Chromium with a fresh on-disk profile, or fails with what to install. A
 * persistent context, not browser.newPage(): playwright's other contexts are off the record,
 * where OPFS lives in memory, flush() does nothing and every handle call is an IPC (a trial on
 * this machine: 1 ms per 4 KiB read), so neither durability nor speed would be the real ones.
 * Closing the context deletes the profile.
 */
export async function launchChromium(): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium is missing at ${CHROMIUM_PATH}: the browser tests need it (apt-get install -y chromium; .ci/run installs it; or set PGZ_CHROMIUM)`);
  }
  const profile = mkdtempSync(join(tmpdir(), "pgz-chromium-profile-"));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM_PATH, headless: true, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
  context.on("close", () => {
    try {
      rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    } catch {
      // Chromium's last writes raced the removal: a leftover temporary profile, nothing more.
    }
  });
  return context;
}

export interface BrowserSession {
  page: Page;
  origin: string;
  /** Page console errors and uncaught exceptions, for failure messages. */
  errors: string[];
}

/**
 * Bundles the suites (and copies `files` beside them), serves them with `extra` directories,
 * opens `path` in a fresh Chromium and runs `body`; everything is torn down afterwards.
 */
export async function withBrowser<T>(
  options: { entries: Record<string, string>; path: string; extra?: Record<string, string>; files?: Record<string, string>; isolated?: boolean },
  body: (session: BrowserSession) => Promise<T>,
): Promise<T> {
  const directory = mkdtempSync(join(tmpdir(), "pgz-browser-"));
  let server: Server | undefined;
  let browser: BrowserContext | undefined;
  try {
    await bundle(directory, options.entries);
    for (const [name, source] of Object.entries(options.files ?? {})) copyFileSync(join(root, source), join(directory, name));
    const served = await serve({ "/": directory, ...options.extra }, options.isolated);
    server = served.server;
    browser = await launchChromium();
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
    page.on("pageerror", (error) => errors.push(String(error)));
    await page.goto(`${served.origin}${options.path}`);
    return await body({ page, origin: served.origin, errors });
  } finally {
    await browser?.close();
    server?.close();
    rmSync(directory, { recursive: true, force: true });
  }
}
