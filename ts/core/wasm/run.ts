/** Runs in WebAssembly memory: a handle to an assembly/run.ts header. */
import { invalidArgument } from "../../errors.ts";
import type { Run } from "../types.ts";
import { countRunEntries } from "../checks.ts";
import type { WasmRuntime } from "./runtime.ts";

interface RunExports {
  runNew(capacity: number): number;
  runFree(run: number): void;
  runClear(run: number): void;
  runPointer(run: number): number;
  runByteLength(run: number): number;
  runCount(run: number): number;
  runAppendEncoded(run: number, pointer: number, length: number, count: number): void;
}

export class WasmRun implements Run {
  private handleOrZero: number;
  private readonly exports: RunExports;

  constructor(readonly runtime: WasmRuntime, capacityBytes: number) {
    this.exports = runtime.exports as unknown as RunExports;
    this.handleOrZero = this.exports.runNew(capacityBytes);
  }

  /** The handle to pass to exports; throws once freed. */
  get handle(): number {
    if (this.handleOrZero === 0) throw invalidArgument("run used after free()");
    return this.handleOrZero;
  }

  get count(): number {
    return this.exports.runCount(this.handle);
  }

  get byteLength(): number {
    return this.exports.runByteLength(this.handle);
  }

  bytes(): Uint8Array {
    const handle = this.handle;
    const pointer = this.exports.runPointer(handle);
    return this.runtime.u8.subarray(pointer, pointer + this.exports.runByteLength(handle));
  }

  clear(): void {
    this.exports.runClear(this.handle);
  }

  appendEncoded(bytes: Uint8Array): void {
    const count = countRunEntries(bytes);
    const handle = this.handle;
    const pointer = this.runtime.stage(bytes);
    this.exports.runAppendEncoded(handle, pointer, bytes.length, count);
  }

  free(): void {
    if (this.handleOrZero !== 0) this.exports.runFree(this.handleOrZero);
    this.handleOrZero = 0;
  }
}

/** Narrows a Run given to the WASM core to its own class, from this same instance. */
export function asWasmRun(run: Run, runtime: WasmRuntime): WasmRun {
  if (!(run instanceof WasmRun) || run.runtime !== runtime) throw invalidArgument("run belongs to another core");
  return run;
}

export function wasmRun(runtime: WasmRuntime) {
  return { newRun: (capacityBytes = 4096): Run => new WasmRun(runtime, capacityBytes) };
}
