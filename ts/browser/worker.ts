/** The dedicated worker openInWorker starts (built to dist/browser-worker.mjs): it serves one database. */
import { serve } from "./host.ts";

serve(globalThis as unknown as Parameters<typeof serve>[0]);
