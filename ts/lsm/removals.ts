/**
 * Deleting the files the manifest no longer needs: spent log segments (retired after a flush, or
 * collected by GC) and tables compacted away. Unlinking a 60 MiB segment took 25-45 ms, so with
 * the background worker the unlink runs there, as a job like a flush's: the caller requests it
 * only once the manifest edit that stops needing the file is durable (as it always has), so a
 * crash before the worker gets to it leaves a file the next open deletes (a collected segment,
 * or a table no level names). A failed unlink comes back as the job's error and latches the
 * database like any background failure. flush(), compact(), gc() and close() wait for the
 * deletions in flight (Tree.waitForWorker), so a caller sees the directory as the manifest says.
 * Inline, a deletion is done at once.
 */
import type { Storage } from "../storage/io.ts";
import { deserializeError, type BackgroundSession } from "./background.ts";

export class FileRemover {
  /** Jobs of deletions requested and not yet answered, oldest first (the worker answers in order). */
  private readonly pending: number[] = [];

  constructor(
    private readonly storage: Storage,
    private readonly remote: BackgroundSession | undefined,
  ) {}

  /** Deletes `name` (a missing file is not an error), now or on the worker. */
  remove(name: string): void {
    if (!this.remote) return this.storage.remove(name);
    this.pending.push(this.remote.start({ type: "remove", name }));
  }

  /** Deletions requested and not yet known done. */
  get inFlight(): number {
    return this.pending.length;
  }

  /** Takes the answers of the deletions done (with `wait`, of all of them); throws the first failure. */
  settle(wait: boolean): void {
    while (this.pending.length > 0) {
      const job = this.pending[0]!;
      const reply = wait ? this.remote!.wait(job) : this.remote!.take(job);
      if (!reply) return;
      this.pending.shift();
      if (!reply.ok) throw deserializeError(reply.error!);
    }
  }
}
