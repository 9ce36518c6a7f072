/**
 * The change stream yields only what a power loss cannot take back: a writer commits batches
 * without sync ("os" and "buffered" durability) while a consumer reads the stream; right after
 * each batch the consumer receives, the disk's state is frozen (fixtures/recording-storage.ts)
 * and the image holding only what was fdatasynced is opened. Every batch the consumer received
 * must be in it, whole. The control: a batch committed without sync, frozen at once, is missing
 * from its image, so a stream that yielded batches before their sync would be caught.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DB, type ChangeBatch } from "../../ts/index.ts";
import { bytesEqual } from "../../ts/bytes.ts";
import { random } from "../helpers.ts";
import { MemoryStorage, imageOf, type CrashState } from "./fixtures/recording-storage.ts";

const OPTIONS = { memtableBytes: 16 * 1024, valueThreshold: 64, segmentBytes: 64 * 1024, bufferedBytes: 8 * 1024 } as const;
const BATCHES_RECEIVED = 60;

interface Capture {
  state: CrashState;
  received: ChangeBatch[];
}

for (const core of ["ts", "wasm"] as const) {
  test(`${core}: every batch the stream yields survives a power loss right after`, async () => {
    const next = random(7_000 + (core === "wasm" ? 1 : 0));
    const storage = new MemoryStorage("changes-power-loss");
    const db = DB.open(storage.directory, { core, storage, ...OPTIONS });
    let committed = 0;
    let stop = false;
    const writer = (async () => {
      while (!stop) {
        const size = 1 + Math.floor(next() * 4);
        const operations = Array.from({ length: size }, (_, i) => ({ type: "put" as const, key: `batch${committed}:${i}`, value: "v".repeat(Math.floor(next() * 200)) }));
        db.batch(operations, { durability: next() < 0.5 ? "os" : "buffered" });
        committed++;
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const captures: Capture[] = [];
    const received: ChangeBatch[] = [];
    let control: CrashState;
    try {
      for await (const batch of db.changes({ since: 0 })) {
        received.push(batch);
        captures.push({ state: storage.capture(), received: received.slice() });
        if (received.length === BATCHES_RECEIVED) break;
      }
      stop = true;
      await writer;
      // The control: a batch committed without sync and never yielded, frozen at once.
      db.batch([{ type: "put", key: "control", value: "not synced" }], { durability: "os" });
      control = storage.capture();
    } finally {
      stop = true;
      await writer;
      db.close();
    }

    for (const [index, capture] of captures.entries()) {
      const image = MemoryStorage.fromImage(imageOf(capture.state, next, { mode: "none" }));
      const recovered = DB.open(image.directory, { core, storage: image, ...OPTIONS });
      try {
        for (const batch of capture.received) {
          for (const operation of batch.operations) {
            const value = recovered.get(operation.key);
            assert.ok(value !== undefined && operation.type === "put" && bytesEqual(value, operation.value), `capture ${index}: batch ${batch.sequence} was yielded, then lost`);
          }
        }
      } finally {
        recovered.close();
      }
    }
    // Without the control the test could not fail: the image keeps only fdatasynced bytes, so a
    // batch the stream yielded before its sync would be missing from it, as this one is.
    const image = MemoryStorage.fromImage(imageOf(control, next, { mode: "none" }));
    const recovered = DB.open(image.directory, { core, storage: image, ...OPTIONS });
    try {
      assert.is(recovered.get("control"), undefined, "a batch committed without sync is lost by the power loss");
    } finally {
      recovered.close();
    }
  });
}

test.run();
