/**
 * The merge of the WASM core: a handle to an assembly/merge.ts merge. Arguments are checked
 * here (a trap would poison the instance); a fill is one call that reads the source runs in
 * place in WebAssembly memory.
 */
import { invalidArgument } from "../../errors.ts";
import type { Merge, MergeOptions, Run } from "../types.ts";
import { MERGE_BYTES_TARGET, checkBytesTarget, checkMergeArguments, checkSourceIndex, notAwaiting } from "../checks.ts";
import { asWasmRun, type WasmRun } from "./run.ts";
import type { WasmRuntime } from "./runtime.ts";

interface MergeExports {
  mergeNew(sourceCount: number, reverse: boolean, visible: boolean, sequence: number): number;
  mergeFree(merge: number): void;
  mergeSources(merge: number): number;
  mergeSourceStride(): number;
  mergeSetSource(merge: number, index: number, run: number): number;
  mergeFill(merge: number, out: number, bytesTarget: number): number;
}

/** Source states and their offset in a source record (assembly/merge.ts). */
const SOURCE_STATE_OFFSET = 8;
const SOURCE_ACTIVE = 1;
const STATUS_NOT_AWAITING = 1;

class WasmMerge implements Merge {
  private handleOrZero: number;
  private readonly sources: number;
  private readonly stride: number;
  /** The run last given to each source, to check it is alive (and not `out`) at each fill. */
  private readonly runs: (WasmRun | null)[];

  constructor(
    private readonly runtime: WasmRuntime,
    private readonly exports: MergeExports,
    private readonly sourceCount: number,
    options: MergeOptions,
  ) {
    runtime.checkUsable();
    const visible = options.mode === "visible";
    this.handleOrZero = exports.mergeNew(sourceCount, options.reverse === true, visible, visible ? options.sequence : 0);
    this.sources = exports.mergeSources(this.handleOrZero);
    this.stride = exports.mergeSourceStride();
    this.runs = new Array<WasmRun | null>(sourceCount).fill(null);
  }

  private get handle(): number {
    if (this.handleOrZero === 0) throw invalidArgument("merge used after free()");
    return this.handleOrZero;
  }

  setSource(index: number, run: Run | null): void {
    const handle = this.handle;
    checkSourceIndex(index, this.sourceCount);
    const source = run === null ? null : asWasmRun(run, this.runtime);
    const runHandle = source === null ? 0 : source.handle;
    this.runtime.checkUsable();
    if (this.exports.mergeSetSource(handle, index, runHandle) === STATUS_NOT_AWAITING) throw notAwaiting(index);
    this.runs[index] = source;
  }

  /** Every active source's run must be alive and must not be `out` (fill clears it). */
  private checkSources(out: WasmRun): void {
    const view = this.runtime.view;
    for (let index = 0; index < this.sourceCount; index++) {
      const run = this.runs[index];
      if (run === null || run === undefined) continue;
      if (view.getUint32(this.sources + index * this.stride + SOURCE_STATE_OFFSET, true) !== SOURCE_ACTIVE) {
        this.runs[index] = null;
        continue;
      }
      if (run === out) throw invalidArgument(`out is the run of source ${index}`);
      void run.handle;
    }
  }

  fill(run: Run, bytesTarget = MERGE_BYTES_TARGET): number {
    const handle = this.handle;
    const out = asWasmRun(run, this.runtime);
    const outHandle = out.handle;
    const target = checkBytesTarget(bytesTarget);
    this.runtime.checkUsable();
    this.checkSources(out);
    return this.exports.mergeFill(handle, outHandle, target);
  }

  free(): void {
    if (this.handleOrZero !== 0) this.exports.mergeFree(this.handleOrZero);
    this.handleOrZero = 0;
  }
}

export function wasmMerge(runtime: WasmRuntime) {
  const exports = runtime.exports as unknown as MergeExports;
  return {
    newMerge: (sourceCount: number, options: MergeOptions): Merge => {
      checkMergeArguments(sourceCount, options);
      return new WasmMerge(runtime, exports, sourceCount, options);
    },
  };
}
