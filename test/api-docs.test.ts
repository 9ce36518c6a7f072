/**
 * docs/API.md documents every public method of DB, Snapshot and PgzLevel, every open, write
 * and iterate option, and every error code. The methods come from the classes themselves
 * (their prototypes and statics, as running code sees them); TypeScript's `private` leaves no
 * trace at run time, so the class source (read with the TypeScript parser) says which are
 * private. A method added to DB without a line in docs/API.md fails here.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { DB, Snapshot } from "../ts/index.ts";
import { PgzLevel } from "../ts/level.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const apiDoc = readFileSync(`${root}docs/API.md`, "utf8");

function sourceFile(path: string): ts.SourceFile {
  return ts.createSourceFile(path, readFileSync(`${root}${path}`, "utf8"), ts.ScriptTarget.ES2022, true);
}

function declarations<T extends ts.Node>(file: ts.SourceFile, matches: (node: ts.Node) => node is T): T[] {
  const found: T[] = [];
  const visit = (node: ts.Node) => {
    if (matches(node)) found.push(node);
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

/** Names the class declares `private`/`protected` (or as #private) in its source. */
function hiddenMembers(path: string, className: string): Set<string> {
  const declaration = declarations(sourceFile(path), ts.isClassDeclaration).find((node) => node.name?.text === className);
  assert.ok(declaration, `class ${className} in ${path}`);
  const hidden = new Set<string>();
  for (const member of declaration.members) {
    if (!member.name) continue;
    const modifiers = ts.canHaveModifiers(member) ? (ts.getModifiers(member) ?? []) : [];
    const isHidden = ts.isPrivateIdentifier(member.name) || modifiers.some((m) => m.kind === ts.SyntaxKind.PrivateKeyword || m.kind === ts.SyntaxKind.ProtectedKeyword);
    if (isHidden) hidden.add(member.name.getText());
  }
  return hidden;
}

/** The public methods and accessors a class has at run time (own prototype and statics). */
function publicMembers(constructor: Function, path: string): string[] {
  const hidden = hiddenMembers(path, constructor.name);
  const own = Object.getOwnPropertyNames(constructor.prototype).filter((name) => name !== "constructor");
  const statics = Object.getOwnPropertyNames(constructor).filter((name) => !["length", "name", "prototype"].includes(name));
  return [...own, ...statics].filter((name) => !name.startsWith("_") && !hidden.has(name));
}

/** The section of docs/API.md under `## heading`, up to the next `## `. */
function section(heading: string): string {
  const start = apiDoc.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `docs/API.md has a "## ${heading}" section`);
  const end = apiDoc.indexOf("\n## ", start + 1);
  return apiDoc.slice(start, end < 0 ? undefined : end);
}

/** True if `name` appears as a member in backticks: `db.name(`, `name`, `DB.name(...)`. */
function mentions(text: string, name: string): boolean {
  return new RegExp("`[^`\\n]*(?:^|[.`\\s])" + name.replace(/[$]/g, "\\$") + "(?:[(`\\s]|$)[^`\\n]*`", "m").test(text) || text.includes("`" + name + "`");
}

const classes: [string, Function, string][] = [
  ["DB", DB, "ts/api/db.ts"],
  ["Snapshot", Snapshot, "ts/api/snapshot.ts"],
  ["PgzLevel", PgzLevel, "ts/level.ts"],
];

for (const [heading, constructor, path] of classes) {
  test(`docs/API.md documents every public member of ${heading}`, () => {
    const members = publicMembers(constructor, path);
    assert.ok(members.length > 0, `${heading} has public members`);
    const text = section(heading);
    const missing = members.filter((name) => !mentions(text, name));
    assert.equal(missing, [], `undocumented in docs/API.md, section ${heading}: ${missing.join(", ")}`);
  });
}

/** Property names of an exported interface, from its source. */
function interfaceProperties(path: string, name: string): string[] {
  const declaration = declarations(sourceFile(path), ts.isInterfaceDeclaration).find((node) => node.name.text === name);
  assert.ok(declaration, `interface ${name} in ${path}`);
  return declaration.members.filter(ts.isPropertySignature).map((member) => member.name.getText());
}

for (const [name, heading] of [
  ["OpenOptions", "DB"],
  ["WriteOptions", "DB"],
  ["IterateOptions", "DB"],
] as const) {
  test(`docs/API.md documents every ${name} property`, () => {
    const properties = interfaceProperties("ts/api/options.ts", name);
    assert.ok(properties.length > 0);
    const text = section(heading);
    const missing = properties.filter((property) => !mentions(text, property));
    assert.equal(missing, [], `${name} properties missing from docs/API.md: ${missing.join(", ")}`);
  });
}

test("docs/API.md documents every PgzError code", () => {
  const alias = declarations(sourceFile("ts/errors.ts"), ts.isTypeAliasDeclaration).find((node) => node.name.text === "PgzErrorCode");
  assert.ok(alias && ts.isUnionTypeNode(alias.type), "PgzErrorCode is a union");
  const codes = (alias.type as ts.UnionTypeNode).types.map((type) => type.getText().replace(/"/g, ""));
  const text = section("Errors");
  const missing = codes.filter((code) => !text.includes("`" + code + "`"));
  assert.equal(missing, [], `error codes missing from docs/API.md: ${missing.join(", ")}`);
});

test("the checker notices an undocumented method", () => {
  // A stand-in class with one documented and one new method: the new one must be reported.
  const text = section("DB");
  assert.ok(mentions(text, "put"));
  assert.not.ok(mentions(text, "frobnicateEverything"));
  assert.not.ok(mentions(text, "pu"), "a prefix of a documented name does not count");
});

test.run();
