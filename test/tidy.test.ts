/**
 * Tidy (TigerBeetle's tidy.zig in spirit): checks on the shape of the source that no other test
 * sees. Every module under ts/ is read as text; imports are found by TypeScript's pre-processor
 * (static imports, `import type`, `export ... from` and dynamic imports alike).
 *
 * - No import cycles among ts/ modules, type-only imports included: a type-only cycle is harmless
 *   at run time, but it still ties two modules into one unit a reader must hold at once.
 * - Only the core loader (ts/core/wasm.ts) imports wasm-build/.
 * - The WASM adapters (ts/core/wasm/) never import the pure twin (ts/core/pure/): checks both
 *   cores share live in ts/core/checks.ts, so a bug in one core's code cannot hide from the
 *   differential tests by being the other's code too.
 * - Lines are at most LINE_LENGTH_MAX characters and functions at most FUNCTION_LINES_MAX lines,
 *   limits the code met when they were set (the longest line was 254, then wrapped; the longest
 *   function 75, then split).
 * - Files are at most FILE_LINES_MAX lines, the WebAssembly core's (assembly/) too.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import ts from "typescript";

const root = new URL("..", import.meta.url).pathname;
const LINE_LENGTH_MAX = 210;
const FUNCTION_LINES_MAX = 60;
const FILE_LINES_MAX = 450;

function sourceFiles(directory: string): string[] {
  return readdirSync(directory).flatMap((name) => {
    const path = join(directory, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith(".ts") ? [path] : [];
  });
}

/** Every ts/ module by its path from the repository root ("ts/api/db.ts"), with its text. */
const modules = new Map(sourceFiles(join(root, "ts")).map((path) => [relative(root, path), readFileSync(path, "utf8")]));

/** The repository-relative paths `file` imports (relative specifiers only: packages and node: are not ours). */
function importsOf(file: string, text: string): string[] {
  const { importedFiles } = ts.preProcessFile(text, true, true);
  return importedFiles.map((imported) => imported.fileName).filter((name) => name.startsWith(".")).map((name) => relative(root, join(root, dirname(file), name)));
}

const imports = new Map([...modules].map(([file, text]) => [file, importsOf(file, text)]));

/** One import cycle, as a path that starts and ends at the same module, or undefined. */
function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, "visiting" | "done">();
  const stack: string[] = [];
  const visit = (file: string): string[] | undefined => {
    if (state.get(file) === "done") return undefined;
    if (state.get(file) === "visiting") return [...stack.slice(stack.indexOf(file)), file];
    state.set(file, "visiting");
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (!graph.has(next)) continue;
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(file, "done");
    return undefined;
  };
  for (const file of [...graph.keys()].sort()) {
    const cycle = visit(file);
    if (cycle) return cycle;
  }
  return undefined;
}

test("no import cycles among ts/ modules (type-only imports count)", () => {
  const cycle = findCycle(imports);
  assert.is(cycle, undefined, `import cycle: ${cycle?.join(" -> ")}`);
});

test("the cycle finder finds a cycle, including one through a type-only import", () => {
  assert.equal(findCycle(new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]]])), ["a", "b", "c", "a"]);
  assert.is(findCycle(new Map([["a", ["b"]], ["b", ["c"]], ["c", []]])), undefined);
  const typeOnly = importsOf("ts/x/a.ts", 'import type { B } from "./b.ts";\nexport { C } from "../c.ts";');
  assert.equal(typeOnly, ["ts/x/b.ts", "ts/c.ts"]);
});

test("only ts/core/wasm.ts imports wasm-build/", () => {
  const importers = [...imports].filter(([, targets]) => targets.some((target) => target.startsWith("wasm-build/"))).map(([file]) => file);
  assert.equal(importers, ["ts/core/wasm.ts"]);
});

test("ts/core/wasm/ never imports ts/core/pure/", () => {
  const crossings = [...imports]
    .filter(([file]) => file.startsWith("ts/core/wasm/"))
    .flatMap(([file, targets]) => targets.filter((target) => target.startsWith("ts/core/pure/")).map((target) => `${file} -> ${target}`));
  assert.equal(crossings, []);
});

test(`files are at most ${FILE_LINES_MAX} lines: ts/ and the WebAssembly core (assembly/)`, () => {
  const texts = [...modules].concat(sourceFiles(join(root, "assembly")).map((path) => [relative(root, path), readFileSync(path, "utf8")]));
  const oversized = texts.filter(([, text]) => text.split("\n").length > FILE_LINES_MAX).map(([file]) => file);
  assert.equal(oversized, [], `over ${FILE_LINES_MAX} lines: ${oversized.join(", ")}`);
});

test(`lines are at most ${LINE_LENGTH_MAX} characters`, () => {
  const longLines = (file: string) => modules.get(file)!.split("\n").flatMap((line, index) => (line.length > LINE_LENGTH_MAX ? [`${file}:${index + 1} (${line.length})`] : []));
  assert.equal([...modules.keys()].flatMap(longLines), []);
});

/** Functions (declarations, methods, arrows, accessors) longer than FUNCTION_LINES_MAX, as "file:line (lines)". */
function longFunctions(file: string, text: string): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && (node as ts.FunctionLikeDeclaration).body !== undefined) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      if (last - first + 1 > FUNCTION_LINES_MAX) found.push(`${file}:${first + 1} (${last - first + 1})`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

test(`functions are at most ${FUNCTION_LINES_MAX} lines`, () => {
  const offending = [...modules].flatMap(([file, text]) => longFunctions(file, text));
  assert.equal(offending, []);
  assert.equal(longFunctions("x.ts", `function f() {\n${"  f();\n".repeat(FUNCTION_LINES_MAX)}}\n`), ["x.ts:1 (62)"], "the measure sees a long function");
});

test.run();
