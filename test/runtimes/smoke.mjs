// Runs inside Node, Deno or Bun against the built bundle (dist/pgz.mjs): the core's check
// vectors on both cores, then a database round trip. Prints one JSON line for the parent test.
import { DB, createCore } from "../../dist/pgz.mjs";

const directory = (globalThis.Deno ? Deno.args : process.argv.slice(2))[0];
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const result = { crc: {}, bloom: {}, database: {}, background: {} };

for (const name of ["wasm", "ts"]) {
  const core = createCore(name);
  result.crc[name] = core.crc32c(encoder.encode("123456789")).toString(16);
  const builder = core.newBloomBuilder();
  builder.add(encoder.encode("present"));
  const filter = core.openBloom(builder.finish(10));
  result.bloom[name] = filter.mayContain(encoder.encode("present"));
  filter.free();
  builder.free();

  // Small memtables and tables: the background worker (dist/worker.mjs) flushes and compacts.
  let db = DB.open(`${directory}/${name}`, { core: name, background: "worker", memtableBytes: 8192, tableBytes: 4096, l0Files: 2 });
  result.background[name] = db.stats().background;
  for (let i = 0; i < 500; i++) db.put(`key-${String(i).padStart(4, "0")}`, `value-${i}`);
  db.delete("key-0000");
  db.close();
  db = DB.open(`${directory}/${name}`, { core: name });
  const keys = [...db.iterate({ prefix: "key-" })].map(([key]) => decoder.decode(key));
  result.database[name] = {
    count: keys.length,
    first: keys[0],
    value: decoder.decode(db.get("key-0499")),
    check: db.check().ok,
  };
  db.close();
}
console.log(JSON.stringify(result));
