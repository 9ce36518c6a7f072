/** pgz's public API (Node, Deno, Bun: the default storage is node:fs). */
import "./storage/node-platform.ts";
export {
  DB,
  type OpenOptions,
  type WriteOptions,
  type ReadOptions,
  type BatchOperation,
  type IterateOptions,
  type CheckReport,
  type CheckProblem,
  type Durability,
  type ChangeBatch,
  type ChangeStream,
  type ChangesOptions,
  type Encoding,
  type EncodingOptions,
  type Encodable,
  type BackupReport,
} from "./api/db.ts";
export { Snapshot } from "./api/snapshot.ts";
export { Transaction, type TransactionOptions, type TransactionRunOptions } from "./api/txn.ts";
export { PgzError, type PgzErrorCode } from "./errors.ts";
export { createCore } from "./core/index.ts";
export type { Core, CoreName } from "./core/types.ts";
