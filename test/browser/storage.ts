/**
 * OpfsStorage's POSIX-like promises, checked on real OPFS in a dedicated worker: files and
 * names survive a reopen, rename replaces atomically, a removed file stays readable while open
 * (and its slot is reused only after), a rename cut short by a crash (two slots naming one file)
 * resolves to the newer, a torn slot header frees the slot, and a second opener is PGZ_LOCKED
 * or waits. Returns one line per broken promise.
 */
import { PgzError } from "../../ts/errors.ts";
import { OPFS_SLOT_HEADER_BYTES, PAGE_SIZE } from "../../ts/format.ts";
import { OpfsStorage } from "../../ts/storage/opfs.ts";
import { encodeSlotHeader } from "../../ts/storage/opfs-slot.ts";
import type { OpfsDirectoryHandle } from "../../ts/storage/opfs-types.ts";

const decoder = new TextDecoder();

function page(text: string): Uint8Array {
  const bytes = new Uint8Array(PAGE_SIZE);
  bytes.set(new TextEncoder().encode(text));
  return bytes;
}

function readText(storage: OpfsStorage, name: string): string {
  const file = storage.open(name);
  try {
    const bytes = new Uint8Array(file.size());
    file.read(bytes, 0);
    return decoder.decode(bytes).replace(/\0+$/, "");
  } finally {
    file.close();
  }
}

function writeFile(storage: OpfsStorage, name: string, text: string): void {
  const file = storage.open(name, { create: true });
  file.write(page(text), 0);
  file.sync();
  file.close();
}

async function codeOf(action: () => Promise<unknown>): Promise<string> {
  try {
    await action();
    return "no error";
  } catch (error) {
    return error instanceof PgzError ? error.code : String(error);
  }
}

/** Writes a raw slot file as a crash would leave it (the storage must be closed). */
async function writeRawSlot(name: string, physicalName: string, header: Uint8Array, body: Uint8Array): Promise<void> {
  const root = await (navigator.storage as unknown as { getDirectory(): Promise<OpfsDirectoryHandle> }).getDirectory();
  const directory = await root.getDirectoryHandle(name);
  const handle = await (await directory.getFileHandle(physicalName, { create: true })).createSyncAccessHandle();
  handle.truncate(0);
  handle.write(header, { at: 0 });
  handle.write(body, { at: OPFS_SLOT_HEADER_BYTES });
  handle.flush();
  handle.close();
}

export async function runStorageChecks(name: string): Promise<string[]> {
  const failures: string[] = [];
  const expect = (condition: boolean, what: string) => condition || failures.push(what);
  let storage = await OpfsStorage.open(name, { spareSlots: 4 });
  writeFile(storage, "a", "alpha");
  writeFile(storage, "b", "beta");
  storage.rename("a", "b");
  expect(!storage.exists("a") && readText(storage, "b") === "alpha", "rename over an existing file");
  const open = storage.open("b");
  storage.remove("b");
  expect(!storage.exists("b"), "removed file still listed");
  writeFile(storage, "c", "gamma");
  const bytes = new Uint8Array(5);
  open.read(bytes, 0);
  expect(decoder.decode(bytes) === "alpha", `a removed file open for reading changed: ${decoder.decode(bytes)}`);
  open.close();
  expect((await codeOf(() => OpfsStorage.open(name))) === "PGZ_LOCKED", "a second opener is not PGZ_LOCKED");
  let waited = false;
  const waiter = OpfsStorage.open(name, { wait: true }).then((second) => {
    waited = true;
    return second;
  });
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(!waited, "a waiting opener got in while the first held the lock");
  storage.close();
  storage = await waiter;
  expect(storage.list().sort().join(",") === "c", `names after reopen: ${storage.list().sort().join(",")}`);
  expect(readText(storage, "c") === "gamma", "contents after reopen");
  storage.close();
  // A rename cut short: the old slot still names "c" at a lower generation than the new one.
  await writeRawSlot(name, "slot-900000", encodeSlotHeader({ name: "c", generation: 1_000_000 }), page("newer"));
  await writeRawSlot(name, "slot-900001", encodeSlotHeader({ name: "d", generation: 0 }), page("older"));
  const torn = encodeSlotHeader({ name: "e", generation: 1_000_001 });
  torn[20] = torn[20]! ^ 0xff;
  await writeRawSlot(name, "slot-900002", torn, page("torn"));
  storage = await OpfsStorage.open(name);
  expect(readText(storage, "c") === "newer", `of two slots naming c the newer wins: ${readText(storage, "c")}`);
  expect(storage.exists("d") && !storage.exists("e"), `a torn header frees its slot: ${storage.list().sort().join(",")}`);
  storage.close();
  return failures;
}
