/**
 * Threads on the Node platform (Node, Deno and Bun all provide node:worker_threads): the one
 * module that reaches worker_threads. The engine reaches it only through the installed platform
 * (ThreadPlatform in platform.ts, installed by node-platform.ts), so pgz/browser, which installs
 * none, runs background work inline and reaches no node: module.
 */
import { existsSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { MessageChannel, Worker, receiveMessageOnPort, workerData, type MessagePort } from "node:worker_threads";
import { PgzError } from "../errors.ts";

export interface ThreadPort {
  postMessage(message: unknown, transfer?: ArrayBuffer[]): void;
  /** Takes the next queued message now, without waiting for the event loop (undefined if none). */
  receiveNow(): { message: unknown } | undefined;
  onMessage(listener: (message: unknown) => void): void;
  close(): void;
}

export interface ThreadHandle {
  readonly port: ThreadPort;
  onExit(listener: (error: unknown) => void): void;
  terminate(): Promise<unknown>;
}

/** Whether this runtime can run background work on a thread (and block on it with Atomics.wait). */
export function threadsAvailable(): boolean {
  return typeof SharedArrayBuffer === "function" && typeof Atomics === "object" && typeof Worker === "function";
}

function wrapPort(port: MessagePort): ThreadPort {
  return {
    postMessage: (message, transfer) => port.postMessage(message, transfer),
    receiveNow: () => receiveMessageOnPort(port),
    onMessage(listener) {
      port.on("message", listener);
      // A database waiting for nothing must not keep the process alive.
      port.unref();
    },
    close: () => port.close(),
  };
}

/**
 * What a thread starts with: its data, and a shared word it bumps after every message it posts,
 * so that a caller blocked in Atomics.wait (which sees no events) wakes and takes the message.
 */
export interface ThreadData {
  signal: SharedArrayBuffer;
  [name: string]: unknown;
}

/**
 * The thread's first code: it loads the module at `url` (under tsx, after registering tsx's
 * loader there: Node 20 does not pass it on to worker threads). A module that fails to load (a
 * syntax error, a throw at its top) would fail the thread only by an "error" event, which a
 * caller blocked in Atomics.wait never sees; so the bootstrap posts the same notice a thread
 * that dies by itself posts ({ exited, message }) and bumps the signal word first.
 */
function bootstrapSource(url: URL): string {
  const registerLoader = url.pathname.endsWith(".ts") ? `import("tsx/esm/api").then((tsx) => tsx.register())` : "Promise.resolve()";
  return `import("node:worker_threads").then(({ workerData }) => ${registerLoader}.then(() => import(${JSON.stringify(url.href)})).catch((error) => {
    workerData.port.postMessage({ exited: true, message: "its module failed to load: " + String((error && error.message) || error) });
    const signal = new Int32Array(workerData.signal);
    Atomics.add(signal, 0, 1);
    Atomics.notify(signal, 0);
    throw error;
  }))`;
}

/**
 * Starts the module at `url` on a thread, handing it a port of a fresh channel (as
 * workerData.port); the other end comes back. The thread never keeps the process alive.
 */
export function spawnThread(url: URL, data: ThreadData): ThreadHandle {
  // A missing module is refused here, at open, with the file named (the bootstrap would report it
  // only at the first write that waits on the thread).
  if (url.protocol === "file:" && !existsSync(fileURLToPath(url))) {
    throw new PgzError("PGZ_IO", `the background worker's module ${fileURLToPath(url)} is missing: ship dist/worker.mjs beside the bundle (dist/chunks/ beside it too), or open with background: "inline"`);
  }
  const channel = new MessageChannel();
  const worker = new Worker(bootstrapSource(url), { eval: true, workerData: { ...data, port: channel.port2 }, transferList: [channel.port2] });
  (worker as { unref?: () => void }).unref?.();
  return {
    port: wrapPort(channel.port1),
    onExit(listener) {
      worker.on("error", (error) => listener(error));
      worker.on("exit", (code) => listener(new Error(`the background worker exited with code ${code}`)));
    },
    terminate: () => worker.terminate(),
  };
}

/**
 * Calls `listener` as this thread stops by itself (process.exit, or an uncaught error: then with
 * that error). terminate() runs no code on the thread, so it calls nothing.
 */
function onThreadExit(listener: (code: number, error: unknown) => void): void {
  let uncaught: unknown;
  process.on("uncaughtExceptionMonitor", (error) => (uncaught ??= error));
  process.on("exit", (code) => listener(code, uncaught));
}

/** The worker side: the port the foreground handed over, the data it was started with, and its exit. */
export function threadContext(): { port: ThreadPort; data: Record<string, unknown>; onExit: typeof onThreadExit } {
  const { port, ...data } = workerData as { port: MessagePort };
  return {
    port: {
      postMessage: (message, transfer) => port.postMessage(message, transfer),
      receiveNow: () => receiveMessageOnPort(port),
      onMessage: (listener) => port.on("message", listener),
      close: () => port.close(),
    },
    data,
    onExit: onThreadExit,
  };
}
