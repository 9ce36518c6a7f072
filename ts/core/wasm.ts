/**
 * The WebAssembly core: loads the module built from assembly/ (the only file that imports
 * wasm-build/), owns its memory views, and assembles the Core from the per-module wrappers in
 * ts/core/wasm/. A trap (abort) poisons the instance: it is reported as an error and the
 * instance must not be used again, so wrappers validate input before calling in.
 *
 * Memory is reused on each thread: a fresh WebAssembly memory pays a page fault per 4 KiB as
 * the memtable and block cache fill it (15-22 us each on a small VM, ~0.65 s for a 1,000,000-put
 * fill), so the memory of a core released cleanly (its database closed, no trap) is kept for the
 * next core of the same build created on this thread, as malloc hands a native engine's next
 * instance its freed heap. The released instance is retired first (WasmRuntime#retire): its
 * exports throw and its views are detached, so a stale handle of the closed database cannot
 * reach the memory's new owner. The pool holds one memory per build, for a few seconds.
 */
import { wasmBase64 as releaseBase64 } from "../../wasm-build/release.wasm.ts";
import { wasmBase64 as debugBase64 } from "../../wasm-build/debug.wasm.ts";
import type { Core } from "./types.ts";
import { WasmRuntime, type WasmExports } from "./wasm/runtime.ts";
import { wasmRun } from "./wasm/run.ts";
import { wasmCrc32c } from "./wasm/crc32c.ts";
import { wasmBloom } from "./wasm/bloom.ts";
import { wasmBlock } from "./wasm/block.ts";
import { wasmSkiplist } from "./wasm/skiplist.ts";
import { wasmMerge } from "./wasm/merge.ts";
import { wasmLz4 } from "./wasm/lz4.ts";
import { wasmLookup } from "./wasm/lookup.ts";

type Build = "release" | "debug";

const compiled = new Map<Build, WebAssembly.Module>();

/** The module's declared minimum (asconfig.json initialMemory), in 64 KiB pages. */
const MEMORY_PAGES_INITIAL = 16;
/** How long a released memory waits for the next core before it is let go. */
const POOL_HOLD_MILLISECONDS = 3000;
/** Larger memories are not kept: holding them would pin too much, and TLSF sizes stay far from 4 GiB. */
const POOL_BYTES_MAX = 1024 * 1024 * 1024;

interface PooledMemory {
  memory: WebAssembly.Memory;
  timer: ReturnType<typeof setTimeout>;
}

/** At most one memory per build, released by a database that closed on this thread. */
const pool = new Map<Build, PooledMemory>();
/** Each build's static area ends here (memoryHeapBase), read from its first instance. */
const heapBases = new Map<Build, number>();
/** Test hook: the runtime behind each WebAssembly core. */
const runtimes = new WeakMap<Core, WasmRuntime>();

function decodeBase64(base64: string): Uint8Array {
  // Buffer exists in Node, Deno and Bun; atob is the portable fallback.
  const maybeBuffer = (globalThis as { Buffer?: { from(s: string, e: string): Uint8Array } }).Buffer;
  if (maybeBuffer) return maybeBuffer.from(base64, "base64");
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function instantiate(build: Build, base64: string): WasmRuntime {
  let module = compiled.get(build);
  if (!module) {
    module = new WebAssembly.Module(decodeBase64(base64));
    compiled.set(build, module);
  }
  const runtime = new WasmRuntime();
  const memory = takePooledMemory(build) ?? new WebAssembly.Memory({ initial: MEMORY_PAGES_INITIAL });
  const instance = new WebAssembly.Instance(module, { env: { abort: runtime.abort, memory } });
  runtime.attach(instance.exports as unknown as WasmExports);
  if (!heapBases.has(build)) heapBases.set(build, (runtime.exports.memoryHeapBase as () => number)() >>> 0);
  return runtime;
}

/**
 * The pooled memory of `build`, its static area zeroed: the module was built assuming a zeroed
 * memory (asconfig.json zeroFilledMemory), so its zero tables are not in its data segments.
 * The heap above needs nothing: the new instance's allocator (TLSF) takes the whole memory as
 * one free block, and no caller of heap.alloc assumes zeroed bytes (freed blocks are reused too).
 */
function takePooledMemory(build: Build): WebAssembly.Memory | undefined {
  const pooled = pool.get(build);
  if (pooled === undefined) return undefined;
  pool.delete(build);
  clearTimeout(pooled.timer);
  new Uint8Array(pooled.memory.buffer, 0, heapBases.get(build)!).fill(0);
  return pooled.memory;
}

/** Retires the runtime and, unless it trapped, keeps its memory for the next core of `build`. */
function release(build: Build, runtime: WasmRuntime, reuseMemory: boolean): void {
  if (runtime.retired) return;
  const reusable = reuseMemory && !runtime.poisoned && heapBases.has(build);
  const memory = runtime.exports.memory;
  runtime.retire();
  if (!reusable || memory.buffer.byteLength > POOL_BYTES_MAX) return;
  const held = pool.get(build);
  // One memory per build: the larger has more pages already faulted in.
  if (held !== undefined && held.memory.buffer.byteLength >= memory.buffer.byteLength) return;
  if (held !== undefined) clearTimeout(held.timer);
  const letGo = (): void => {
    if (pool.get(build) === entry) pool.delete(build);
  };
  const entry: PooledMemory = { memory, timer: setTimeout(letGo, POOL_HOLD_MILLISECONDS) };
  // Node's and Deno's timers can be unref'd, so a held memory never keeps a process alive.
  (entry.timer as { unref?: () => void }).unref?.();
  pool.set(build, entry);
}

function coreOf(build: Build, runtime: WasmRuntime): Core {
  const core: Core = {
    name: "wasm",
    release: (reuseMemory = true) => release(build, runtime, reuseMemory),
    ...wasmRun(runtime),
    ...wasmCrc32c(runtime),
    ...wasmBloom(runtime),
    ...wasmBlock(runtime),
    ...wasmSkiplist(runtime),
    ...wasmMerge(runtime),
    ...wasmLz4(runtime),
    ...wasmLookup(runtime),
  };
  runtimes.set(core, runtime);
  return core;
}

/** Test hooks: the runtime of a WebAssembly core, and the memory the pool holds for a build. */
export const wasmPoolProbe = {
  runtimeOf: (core: Core): WasmRuntime | undefined => runtimes.get(core),
  held: (build: Build = "release"): WebAssembly.Memory | undefined => pool.get(build)?.memory,
  holdMilliseconds: POOL_HOLD_MILLISECONDS,
};

/** A new WebAssembly core (the release build) with its own instance and memory. */
export function createWasmCore(): Core {
  return coreOf("release", instantiate("release", releaseBase64));
}

/**
 * The same core from the debug build (assertions on), for the tests. A function of its own so
 * that the bundle, which never calls it, leaves the debug module (6x the release) out.
 */
export function createDebugWasmCore(): Core {
  return coreOf("debug", instantiate("debug", debugBase64));
}
