/** A dedicated worker that runs one suite on the synchronous DB and OPFS, and posts its result. */
import { createCore } from "../../ts/core/index.ts";
import { runModel, type ModelOptions } from "./model.ts";
import { runStorageChecks } from "./storage.ts";
import { runVectors } from "./vectors.ts";

const suites: Record<string, (args: never) => unknown> = {
  vectors: () => ({ wasm: runVectors(createCore("wasm")), ts: runVectors(createCore("ts")) }),
  storage: (name: string) => runStorageChecks(name),
  model: (options: ModelOptions) => runModel(options),
};

const scope = globalThis as unknown as { onmessage: (event: { data: { suite: string; args: never } }) => void; postMessage(message: unknown): void };
scope.onmessage = async ({ data }) => {
  try {
    scope.postMessage({ result: await suites[data.suite]!(data.args) });
  } catch (error) {
    scope.postMessage({ error: error instanceof Error ? `${error.name}: ${error.message}\n${error.stack}` : String(error) });
  }
};
