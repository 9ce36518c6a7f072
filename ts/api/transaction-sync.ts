/**
 * db.transactionSync(fn): db.transaction for synchronous work, as lmdb-js and better-sqlite3 have
 * it. `fn` runs in a fresh transaction that is committed when it returns; on PGZ_CONFLICT it runs
 * again (up to `retries` more times); any other error aborts and propagates. A function that
 * returns a promise is refused: its work would still be running at commit.
 */
import { invalidArgument } from "../errors.ts";
import { Transaction, checkRunArguments, commitAttempt, endFailedAttempt, type TransactionRunOptions } from "./txn.ts";
import type { ReadView } from "./view.ts";

function isThenable(value: unknown): boolean {
  return (typeof value === "object" || typeof value === "function") && value !== null && typeof (value as { then?: unknown }).then === "function";
}

export function runTransactionSync<T>(view: ReadView, fn: (transaction: Transaction) => T, options: TransactionRunOptions = {}): T {
  const retries = checkRunArguments(fn, options, "transactionSync");
  for (let attempt = 0; ; attempt++) {
    const transaction = new Transaction(view, { transactionBytesMax: options.transactionBytesMax });
    try {
      const result = fn(transaction);
      if (isThenable(result)) {
        // The promise's rejection is the caller's mistake to see, not an unhandled one.
        (result as Promise<unknown>).then(undefined, () => undefined);
        throw invalidArgument("the function given to transactionSync returned a promise; use db.transaction for asynchronous work");
      }
      commitAttempt(transaction, options.writeOptions);
      return result;
    } catch (error) {
      endFailedAttempt(transaction, error, attempt, retries);
    }
  }
}
