// Replicates one pgz database into another through the change stream, then proves them equal.
//
//   npm run build && node examples/replicate.mjs [directory]
//
// The source gets writes (small and large values, deletes, batches) while the replica applies
// each batch the source commits. The replica stores the last sequence it applied in a file next
// to it, so a restart resumes where it stopped; the source keeps its log for the named consumer
// "replica" until the replica acknowledges what it applied. The same loop could feed any store.
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DB } from "../dist/pgz.mjs";

const root = process.argv[2] ?? mkdtempSync(join(tmpdir(), "pgz-replicate-"));
const positionFile = join(root, "replica.position");
const appliedSequence = () => (existsSync(positionFile) ? Number(readFileSync(positionFile, "utf8")) : 0);

/** Applies batches to the replica until it has everything up to `sequence` (the source's newest). */
async function follow(stream, replica, sequence) {
  let applied = appliedSequence();
  while (applied < sequence) {
    const { value: batch } = await stream.next();
    replica.batch(batch.operations);
    applied = batch.sequence + batch.operations.length - 1;
    // Written after the batch: after a crash between the two, batches are applied again in order,
    // which leaves the same content.
    writeFileSync(positionFile, String(applied));
  }
  return applied;
}

function writeSome(db, round) {
  for (let i = 0; i < 1000; i++) {
    const key = `user:${(i * 7919 + round) % 500}`;
    if (i % 10 === 9) db.delete(key);
    else db.put(key, JSON.stringify({ round, i, bio: "x".repeat(i % 3 === 0 ? 2000 : 20) }));
  }
  db.batch([
    { type: "put", key: `round:${round}`, value: "done" },
    { type: "del", key: `round:${round - 1}` },
  ]);
}

for (let round = 1; round <= 3; round++) {
  // Both sides are closed and reopened each round, as separate processes would be.
  const source = DB.open(join(root, "source"));
  const replica = DB.open(join(root, "replica"));
  const stream = source.changes({ since: appliedSequence(), consumer: "replica" });
  writeSome(source, round);
  if (round === 2) source.gc({ discardRatio: 0.2, segmentsMax: 10 });
  const applied = await follow(stream, replica, source.sequence);
  source.acknowledgeChanges("replica", applied);
  await stream.return();
  console.log(`round ${round}: replica at sequence ${applied} of ${source.sequence}`);
  source.close();
  replica.close();
}

const source = DB.open(join(root, "source"));
const replica = DB.open(join(root, "replica"));
const expected = [...source.iterate()];
const actual = [...replica.iterate()];
const same =
  expected.length === actual.length &&
  expected.every(([key, value], i) => Buffer.compare(key, actual[i][0]) === 0 && Buffer.compare(value, actual[i][1]) === 0);
console.log(`${expected.length} keys in the source, ${actual.length} in the replica: ${same ? "identical" : "DIFFERENT"}`);
source.releaseConsumer("replica");
source.close();
replica.close();
if (!same) process.exit(1);
