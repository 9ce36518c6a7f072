/**
 * The disk's floor for a durable put, measured beside the engines in bench:browser: one 4 KiB
 * page written to a bare OPFS file through its sync access handle, then flush() (what each
 * engine's commit must at least do). Only putDurable is meant to be used.
 */
import type { SyncAccessHandle } from "../../ts/storage/opfs-types.ts";
import type { Engine } from "./engines.ts";

export const FLOOR_NAME = "OPFS 4 KiB write + flush";

export class FlushFloor implements Engine {
  readonly name = FLOOR_NAME;
  private handle: SyncAccessHandle | undefined;
  private readonly page = new Uint8Array(4096).fill(0x5a);
  private pages = 0;

  constructor(private readonly fileName: string) {}

  async open(): Promise<void> {
    const root = await (globalThis as any).navigator.storage.getDirectory();
    const file = await root.getFileHandle(this.fileName, { create: true });
    this.handle = await file.createSyncAccessHandle();
  }

  async putDurable(): Promise<void> {
    this.handle!.write(this.page, { at: this.pages++ * this.page.length });
    this.handle!.flush();
  }

  async close(): Promise<void> {
    this.handle?.close();
    const root = await (globalThis as any).navigator.storage.getDirectory();
    await root.removeEntry(this.fileName);
  }

  batch(): Promise<void> {
    throw new Error("the flush floor only measures putDurable");
  }

  getAll(): Promise<number> {
    throw new Error("the flush floor only measures putDurable");
  }

  scan(): Promise<number> {
    throw new Error("the flush floor only measures putDurable");
  }
}
