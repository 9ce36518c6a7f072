/** Installs the Node default storage (node:fs) and its LOCK file protocol; see platform.ts. */
import { backupVersion } from "../api/backup.ts";
import { acquireLock } from "./lock.ts";
import { NodeStorage } from "./node.ts";
import { installPlatform } from "./platform.ts";
import { ReaderRegistration, guardRemovals } from "./readers.ts";
import { spawnThread, threadsAvailable } from "./threads.ts";

installPlatform({
  openStorage: (directory, options) => new NodeStorage(directory, options),
  acquireLock,
  guardRemovals,
  registerReader: (directory) => new ReaderRegistration(directory),
  backup: backupVersion,
  threads: { available: threadsAvailable, spawn: spawnThread },
});
