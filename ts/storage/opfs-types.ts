/**
 * The few OPFS and Web Locks shapes pgz uses, declared here because the project compiles without
 * the DOM library (the same code runs in Node, Deno and Bun).
 */
export interface SyncAccessHandle {
  read(buffer: Uint8Array, options?: { at?: number }): number;
  write(buffer: Uint8Array, options?: { at?: number }): number;
  truncate(size: number): void;
  getSize(): number;
  flush(): void;
  close(): void;
}

export interface OpfsFileHandle {
  readonly kind: "file";
  createSyncAccessHandle(): Promise<SyncAccessHandle>;
}

export interface OpfsDirectoryHandle {
  readonly kind: "directory";
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<OpfsDirectoryHandle>;
  getFileHandle(name: string, options?: { create?: boolean }): Promise<OpfsFileHandle>;
  entries(): AsyncIterable<[string, OpfsFileHandle | OpfsDirectoryHandle]>;
}

export interface WebLocks {
  request(name: string, options: { ifAvailable?: boolean }, callback: (lock: object | null) => Promise<void> | undefined): Promise<unknown>;
}
