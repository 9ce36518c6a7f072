/** pgz's public API. */
export { PgzError, type PgzErrorCode } from "./errors.ts";
export { createCore } from "./core/index.ts";
export type * from "./core/types.ts";
