/**
 * The host side of the WebAssembly instance: memory views refreshed after any call that may
 * grow memory, the staging area (one copy of a batch's input, then one call), the abort
 * import that turns a trap into a poisoned instance, and retirement: once its database has
 * closed, the memory may belong to the next core on this thread (ts/core/wasm.ts), so nothing
 * of this instance may touch it again.
 */
import { PgzError } from "../../errors.ts";
import { copyOfRange } from "../slab.ts";

/** Exports every module of assembly/ provides; each wrapper declares the ones it uses. */
export interface WasmExports {
  memory: WebAssembly.Memory;
  stagingReserve(bytes: number): number;
  memoryAllocate(bytes: number): number;
  memoryFree(pointer: number): void;
  [name: string]: unknown;
}

function closedError(): PgzError {
  return new PgzError("PGZ_CLOSED", "the database is closed (its WebAssembly core was retired)");
}

function retiredCall(): never {
  throw closedError();
}

/** Freeing after retirement has nothing left to free: the instance's heap went with it. */
function retiredFree(): void {}

export class WasmRuntime {
  /**
   * A mutable copy of the instance's exports, the one object every wrapper calls through:
   * retire() swaps its functions for ones that throw, which reaches every wrapper at once.
   */
  exports!: WasmExports;
  private bytesView = new Uint8Array(0);
  private dataView = new DataView(new ArrayBuffer(0));
  poisoned = false;
  retired = false;

  attach(exports: WasmExports): void {
    this.exports = { ...exports };
    this.refresh();
  }

  /**
   * The database is closed: every export now throws PGZ_CLOSED (frees do nothing), and u8 and
   * view throw PGZ_CLOSED from here on, so no wrapper gets a view of the memory's next owner.
   * Views taken before (Run#bytes, readBuffer: valid only until the next call into the core)
   * are not detached: memory.grow(0) would detach them, but with it every reopen in bench:peers
   * paid a ~600 ms full garbage collection (measured with --trace-gc; reopen 150 -> 650 ms).
   * The one wrapper that keeps a view between calls (KeyScratch) checks retired before using it.
   */
  retire(): void {
    if (this.retired) return;
    this.retired = true;
    const exports = this.exports as Record<string, unknown>;
    for (const name of Object.keys(exports)) {
      if (typeof exports[name] === "function") exports[name] = name.endsWith("Free") ? retiredFree : retiredCall;
    }
    this.bytesView = new Uint8Array(0);
    this.dataView = new DataView(new ArrayBuffer(0));
  }

  /** The abort import: AssemblyScript calls it on a failed assertion or trap. */
  readonly abort = (_message: number, _file: number, line: number, column: number): never => {
    this.poisoned = true;
    throw new PgzError("PGZ_CORRUPTION", `WebAssembly core aborted at ${line}:${column}; the instance is poisoned`);
  };

  private refresh(): void {
    if (this.retired) throw closedError();
    this.bytesView = new Uint8Array(this.exports.memory.buffer);
    this.dataView = new DataView(this.exports.memory.buffer);
  }

  /**
   * The whole memory as bytes, fresh after any growth. Growing memory detaches the old
   * ArrayBuffer, and a view over a detached buffer has length 0: checking that is much cheaper
   * than reading WebAssembly.Memory#buffer on every call.
   */
  get u8(): Uint8Array {
    if (this.bytesView.length === 0) this.refresh();
    return this.bytesView;
  }

  /** A DataView over the memory; refreshed with u8 (DataView#byteLength throws once detached). */
  get view(): DataView {
    if (this.bytesView.length === 0) this.refresh();
    return this.dataView;
  }

  /** Copies `data` into the staging area and returns its pointer (valid until the next stage). */
  stage(data: Uint8Array): number {
    const pointer = this.exports.stagingReserve(data.length);
    this.u8.set(data, pointer);
    return pointer;
  }

  /** Copies several inputs into one staging reservation; returns their pointers in order. */
  stageAll(parts: readonly Uint8Array[]): number[] {
    let total = 0;
    for (const part of parts) total += (part.length + 7) & ~7;
    const base = this.exports.stagingReserve(total);
    const memory = this.u8;
    const pointers: number[] = [];
    let offset = base;
    for (const part of parts) {
      memory.set(part, offset);
      pointers.push(offset);
      offset += (part.length + 7) & ~7;
    }
    return pointers;
  }

  /** A copy of `length` bytes at `pointer`. */
  copyOut(pointer: number, length: number): Uint8Array {
    return this.u8.slice(pointer, pointer + length);
  }

  /**
   * A copy of a value a point lookup found, for the caller only: small ones share a slab
   * (ts/core/slab.ts), so the engine must never keep one.
   */
  copyValueOut(pointer: number, length: number): Uint8Array {
    return copyOfRange(this.u8, pointer, pointer + length);
  }

  checkUsable(): void {
    if (this.retired) throw closedError();
    if (this.poisoned) throw new PgzError("PGZ_CORRUPTION", "the WebAssembly core trapped earlier and is poisoned");
  }
}
