// Run by `npm pack` / `npm publish` (prepack, postpack): the packed package.json must carry no
// install-time script, or npm (11+) warns every consumer about it, although a tarball is
// already built. A clone still needs `prepare` (so `npm install` builds wasm-build/ and dist/),
// so `strip` sets the file aside and writes it without `prepare` for the packing, and `restore`
// puts the original back, byte for byte (the pattern of pinst). A pack that died between the
// two leaves the backup, which the next `strip` restores first.
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";

const root = new URL("..", import.meta.url).pathname;
const manifestPath = `${root}package.json`;
const backupPath = `${root}package.json.before-pack`;
/** Scripts npm runs when a package is installed (or lists as install scripts). */
const INSTALL_SCRIPTS = ["preinstall", "install", "postinstall", "prepare"];

function restore() {
  if (existsSync(backupPath)) renameSync(backupPath, manifestPath);
}

function strip() {
  restore();
  const original = readFileSync(manifestPath, "utf8");
  const manifest = JSON.parse(original);
  for (const name of INSTALL_SCRIPTS) delete manifest.scripts?.[name];
  writeFileSync(backupPath, original);
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2) + "\n");
}

const action = process.argv[2];
if (action === "strip") strip();
else if (action === "restore") restore();
else throw new Error(`usage: node scripts/pack-manifest.mjs strip|restore, got ${action}`);
