/**
 * The WebAssembly core: loads the module built from assembly/ (the only file that imports
 * wasm-build/), owns its memory views, and assembles the Core from the per-module wrappers in
 * ts/core/wasm/. A trap (abort) poisons the instance: it is reported as an error and the
 * instance must not be used again, so wrappers validate input before calling in.
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

const compiled = new Map<string, WebAssembly.Module>();

function decodeBase64(base64: string): Uint8Array {
  // Buffer exists in Node, Deno and Bun; atob is the portable fallback.
  const maybeBuffer = (globalThis as { Buffer?: { from(s: string, e: string): Uint8Array } }).Buffer;
  if (maybeBuffer) return maybeBuffer.from(base64, "base64");
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function instantiate(build: "release" | "debug", base64: string): WasmRuntime {
  let module = compiled.get(build);
  if (!module) {
    module = new WebAssembly.Module(decodeBase64(base64));
    compiled.set(build, module);
  }
  const runtime = new WasmRuntime();
  const instance = new WebAssembly.Instance(module, { env: { abort: runtime.abort } });
  runtime.attach(instance.exports as unknown as WasmExports);
  return runtime;
}

function coreOf(runtime: WasmRuntime): Core {
  return {
    name: "wasm",
    ...wasmRun(runtime),
    ...wasmCrc32c(runtime),
    ...wasmBloom(runtime),
    ...wasmBlock(runtime),
    ...wasmSkiplist(runtime),
    ...wasmMerge(runtime),
    ...wasmLz4(runtime),
    ...wasmLookup(runtime),
  };
}

/** A new WebAssembly core (the release build) with its own instance and memory. */
export function createWasmCore(): Core {
  return coreOf(instantiate("release", releaseBase64));
}

/**
 * The same core from the debug build (assertions on), for the tests. A function of its own so
 * that the bundle, which never calls it, leaves the debug module (6x the release) out.
 */
export function createDebugWasmCore(): Core {
  return coreOf(instantiate("debug", debugBase64));
}
