/** Installs the Node default storage (node:fs) and its LOCK file protocol; see platform.ts. */
import { acquireLock } from "./lock.ts";
import { NodeStorage } from "./node.ts";
import { installPlatform } from "./platform.ts";

installPlatform({
  openStorage: (directory, options) => new NodeStorage(directory, options),
  acquireLock,
});
