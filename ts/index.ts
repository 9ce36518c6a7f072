/** pgz's public API. */
export { DB, type OpenOptions, type WriteOptions, type BatchOperation, type IterateOptions, type CheckReport, type CheckProblem, type Durability, type BackupReport } from "./api/db.ts";
export { Snapshot } from "./api/snapshot.ts";
export { Transaction, type TransactionOptions, type TransactionRunOptions } from "./api/txn.ts";
export { PgzError, type PgzErrorCode } from "./errors.ts";
export { createCore } from "./core/index.ts";
export type { Core, CoreName } from "./core/types.ts";
