// The staging area: the host copies a call's inputs here (one copy for a whole batch), then
// makes one call. Memory comes from heap.alloc (TLSF, runtime "minimal": nothing is ever
// collected automatically), so no hot path does GC work. Anything that can grow memory is
// followed on the host by a refresh of its views (ts/core/wasm.ts).

let stagingPointer: usize = 0;
let stagingCapacityBytes: usize = 0;

/** Returns a staging buffer of at least `bytes` bytes; its contents do not survive the call. */
export function stagingReserve(bytes: usize): usize {
  if (bytes > stagingCapacityBytes) {
    let capacity: usize = stagingCapacityBytes == 0 ? 65536 : stagingCapacityBytes;
    while (capacity < bytes) capacity <<= 1;
    if (stagingPointer != 0) heap.free(stagingPointer);
    stagingPointer = heap.alloc(capacity);
    stagingCapacityBytes = capacity;
  }
  return stagingPointer;
}

/** Raw allocation for host-owned buffers (runs, blocks, filters). */
export function memoryAllocate(bytes: usize): usize {
  return heap.alloc(bytes);
}

export function memoryFree(pointer: usize): void {
  heap.free(pointer);
}

/**
 * Where the heap starts: below it lie the static data and zero-filled tables. The module imports
 * its memory and is built assuming it starts zeroed (zeroFilledMemory), so a host that hands a
 * used memory to a new instance zeroes the bytes below this first (ts/core/wasm.ts).
 */
export function memoryHeapBase(): usize {
  return __heap_base;
}
