// Child process for test/main-thread-footprint.test.ts: starts a server on loopback and reports what
// its main thread holds: JavaScript heap after a full collection, and whether TensorFlow.js loaded.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import v8 from "node:v8";
import { silentLogger } from "../../src/log.js";
import { startServer } from "../../src/server.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "modelbay-footprint-"));
const server = await startServer({ address: "127.0.0.1:0", checkpointDir: dir, log: silentLogger });
(globalThis as { gc?: () => void }).gc?.();
const heapMb = v8.getHeapStatistics().used_heap_size / 2 ** 20;
// tfjs-core keeps its engine on the global object from the moment it loads.
const tensorflowLoaded = "_tfengine" in globalThis;
await server.shutdown();
fs.rmSync(dir, { recursive: true, force: true });
process.stdout.write(`${JSON.stringify({ heapMb, tensorflowLoaded })}\n`);
