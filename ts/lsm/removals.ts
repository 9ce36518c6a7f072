/**
 * Unlinking the files the manifest no longer needs, with the background worker: spent log
 * segments (retired after a flush, or collected by GC) and tables compacted away. Unlinking a
 * 60 MiB segment took 25-45 ms on the calling thread, so the unlink runs on the worker, as a job
 * like a flush's. What to delete and when is decided on the calling thread as before: a file is
 * removed only once the manifest edit that stops needing it is durable, and the storage's
 * removal guard (ts/storage/readers.ts) keeps any file a live reader registration names; only
 * the unlink it decides on comes here (unlinkWith), and waits until every manifest edit so far
 * is durable (with the worker, their fdatasync runs off this thread: Manifest.syncInBackground).
 * A crash before the worker gets to it leaves a file the next open deletes (a collected
 * segment, or a table no level names). A failed
 * unlink comes back as the job's error and latches the database like any background failure.
 * flush(), compact(), gc(), close() and check() wait for the unlinks in flight, so a caller sees
 * the directory as the manifest says. During open, after close, or once the worker is lost, an
 * unlink is done at once on this thread, after a manifest sync there.
 */
import type { GuardedStorage } from "../storage/readers.ts";
import type { Storage } from "../storage/io.ts";
import { deserializeError, type BackgroundSession } from "./background.ts";
import type { Manifest } from "./manifest.ts";

export class FileRemover {
  /** Jobs of unlinks requested and not yet answered, oldest first (the worker answers in order). */
  private readonly pending: number[] = [];
  /** Unlinks waiting for the manifest edits before them to be durable (its fdatasync is off this thread). */
  private readonly waiting: { name: string; edits: number }[] = [];
  private closed = false;

  constructor(
    private readonly remote: BackgroundSession | undefined,
    private readonly manifest: Manifest,
  ) {}

  /**
   * From now on, takes over the unlinks of `storage`'s removal guard, if it has one and there is
   * a worker, and lets the manifest sync in the background. Called once open is done: open's own
   * deletions stay on this thread, so open never blocks on a worker that has only just started.
   */
  takeOver(storage: Storage): void {
    const guarded = storage as Partial<GuardedStorage>;
    if (!this.remote || !guarded.unlinkWith) return;
    guarded.unlinkWith((name, unlinkHere) => this.unlink(name, unlinkHere));
    // Every unlink now waits for the edits before it to be durable: their fdatasync can leave this thread.
    this.manifest.syncInBackground();
  }

  private unlink(name: string, unlinkHere: (name: string) => void): void {
    if (this.closed || this.remote!.failure !== undefined) {
      this.manifest.syncNow();
      return unlinkHere(name);
    }
    // Every edit applied so far must be durable first: the one that stopped needing the file is among them.
    this.waiting.push({ name, edits: this.manifest.editsWritten });
    this.release();
  }

  /** Hands the worker the unlinks whose edits are durable; the others wait for the manifest's next sync. */
  private release(): void {
    while (this.waiting.length > 0 && this.waiting[0]!.edits <= this.manifest.editsDurable) {
      const { name } = this.waiting.shift()!;
      // A worker lost meanwhile latched the database: the file is left for the next open to delete.
      if (this.remote!.failure === undefined) this.pending.push(this.remote!.start({ type: "remove", name }));
    }
    if (this.waiting.length === 0 || this.listening) return;
    this.listening = true;
    this.manifest.onDurable(() => {
      this.listening = false;
      this.release();
    });
  }

  private listening = false;

  /** Takes the answers of the unlinks done (with `wait`, of all of them); throws the first failure. */
  settle(wait: boolean): void {
    if (wait && this.waiting.length > 0) {
      this.manifest.syncNow();
      this.release();
    }
    while (this.pending.length > 0) {
      const job = this.pending[0]!;
      const reply = wait ? this.remote!.wait(job) : this.remote!.take(job);
      if (!reply) return;
      this.pending.shift();
      if (!reply.ok) throw deserializeError(reply.error!);
    }
  }

  /** Waits for the unlinks in flight (another open may follow at once); later ones are done on this thread. */
  close(): void {
    this.closed = true;
    try {
      this.settle(true);
    } catch {
      // The worker is lost, or an unlink failed: what is left is a file the next open deletes.
    }
  }
}
