/**
 * pgz in the browser (`import ... from "pgz/browser"`), on the Origin Private File System.
 * - `openInWorker(name, options)` (from a page): runs the database in a dedicated worker and
 *   returns an async proxy with the DB's API.
 * - `openOpfs(name, options)` (in a dedicated worker): the plain synchronous DB on OPFS.
 * No node: module is reachable from here (test/browser.test.ts bundles it for the browser).
 */
export { DB, type OpenOptions, type WriteOptions, type BatchOperation, type IterateOptions, type CheckReport, type CheckProblem, type Durability } from "./api/db.ts";
export { Snapshot } from "./api/snapshot.ts";
export { Transaction, type TransactionOptions, type TransactionRunOptions } from "./api/txn.ts";
export { PgzError, type PgzErrorCode } from "./errors.ts";
export { createCore } from "./core/index.ts";
export type { Core, CoreName } from "./core/types.ts";
export { OpfsStorage, type OpfsOpenOptions } from "./storage/opfs.ts";
export { openOpfs, type BrowserOpenOptions } from "./browser/open.ts";
export { openInWorker, RemoteDB, RemoteSnapshot, RemoteTransaction, type WorkerOpenOptions } from "./browser/proxy.ts";
