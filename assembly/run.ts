// Runs: growable batches of entries in run encoding (ts/core/types.ts), the format in which
// entries cross the JS/WASM boundary. A run is a header in heap memory:
//
//   +---------------+-----------------+---------------+-----------+
//   | usize pointer | u32 byteLength  | u32 capacity  | u32 count |
//   +---------------+-----------------+---------------+-----------+

// @ts-ignore: decorator
@unmanaged export class Run {
  pointer: usize;
  byteLength: u32;
  capacity: u32;
  count: u32;
}

export function runNew(capacity: u32): Run {
  const run = changetype<Run>(heap.alloc(offsetof<Run>()));
  const initial: u32 = capacity < 64 ? 64 : capacity;
  run.pointer = heap.alloc(initial);
  run.byteLength = 0;
  run.capacity = initial;
  run.count = 0;
  return run;
}

export function runFree(run: Run): void {
  heap.free(run.pointer);
  heap.free(changetype<usize>(run));
}

export function runClear(run: Run): void {
  run.byteLength = 0;
  run.count = 0;
}

export function runPointer(run: Run): usize { return run.pointer; }
export function runByteLength(run: Run): u32 { return run.byteLength; }
export function runCount(run: Run): u32 { return run.count; }

/** Makes room for `bytes` more bytes and returns where they go (the run may move). */
export function runReserve(run: Run, bytes: u32): usize {
  const needed = run.byteLength + bytes;
  if (needed > run.capacity) {
    let capacity = run.capacity;
    while (capacity < needed) capacity <<= 1;
    run.pointer = heap.realloc(run.pointer, capacity);
    run.capacity = capacity;
  }
  return run.pointer + run.byteLength;
}

/** Appends one entry from its key and value bytes. */
export function runAppend(run: Run, key: usize, keyLength: u32, value: usize, valueLength: u32): void {
  const at = runReserve(run, 8 + keyLength + valueLength);
  store<u32>(at, keyLength);
  store<u32>(at, valueLength, 4);
  memory.copy(at + 8, key, keyLength);
  memory.copy(at + 8 + keyLength, value, valueLength);
  run.byteLength += 8 + keyLength + valueLength;
  run.count++;
}

/** Appends `count` entries already in run encoding (validated by the host) from `source`. */
export function runAppendEncoded(run: Run, source: usize, length: u32, count: u32): void {
  const at = runReserve(run, length);
  memory.copy(at, source, length);
  run.byteLength += length;
  run.count += count;
}
