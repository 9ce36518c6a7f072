/**
 * Chromium CPU profiles of the bench worker (bench:browser --cpu-profile DIRECTORY): a CDP session
 * on the page auto-attaches to each dedicated worker (non-flat sessions: playwright's CDP session
 * has no child sessions) and enables the V8 profiler there; the worker brackets each measured
 * run with console.profile(label) / console.profileEnd(label), and each finished profile arrives
 * as an event and is written to DIRECTORY/<label>.cpuprofile (open it in Chrome DevTools).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";

/** Profiles every worker `page` starts from now on; returns how many profiles were written. */
export async function profileWorkers(page: Page, directory: string): Promise<() => number> {
  mkdirSync(directory, { recursive: true });
  const cdp = await page.context().newCDPSession(page);
  let written = 0;
  let nextId = 1;
  const send = (sessionId: string, method: string, params: object = {}) =>
    cdp.send("Target.sendMessageToTarget", { sessionId, message: JSON.stringify({ id: nextId++, method, params }) });
  cdp.on("Target.receivedMessageFromTarget", ({ message }) => {
    const event = JSON.parse(message);
    if (event.method !== "Profiler.consoleProfileFinished") return;
    const name = String(event.params.title).replace(/[^\w.-]+/g, "_");
    writeFileSync(join(directory, `${name}.cpuprofile`), JSON.stringify(event.params.profile));
    written++;
  });
  cdp.on("Target.attachedToTarget", async ({ sessionId }) => {
    await send(sessionId, "Profiler.enable");
    await send(sessionId, "Profiler.setSamplingInterval", { interval: 100 });
    await send(sessionId, "Runtime.runIfWaitingForDebugger");
  });
  await cdp.send("Target.setAutoAttach", { autoAttach: true, waitForDebuggerOnStart: true, flatten: false });
  return () => written;
}
