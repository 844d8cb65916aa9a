// Starts a real server on a free loopback port, with its own temporary checkpoint store, and
// connects a client to it.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, type ModelbayClient } from "../../src/cli/client.js";
import { parseBackendChoice } from "../../src/compute/backend-choice.js";
import { silentLogger } from "../../src/log.js";
import { type RunningServer, type ServerOptions, startServer } from "../../src/server.js";

export interface TestServer {
  server: RunningServer;
  client: ModelbayClient;
  close(): Promise<void>;
}

const tempDirs: string[] = [];

/**
 * A new directory under the system's temporary directory, removed when this test file's process
 * exits (each file runs in its own), whether or not the test that made it cleaned up.
 */
export function tempDir(prefix = "modelbay-test-"): string {
  if (tempDirs.length === 0) {
    process.once("exit", () => {
      for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
    });
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export async function startTestServer(options: Partial<ServerOptions> = {}): Promise<TestServer> {
  const ownDir = options.checkpointDir === undefined ? tempDir() : undefined;
  const server = await startServer({
    ...(ownDir ? { checkpointDir: ownDir } : {}),
    address: "127.0.0.1:0",
    backend: parseBackendChoice(process.env.MODELBAY_BACKEND),
    log: silentLogger,
    ...options,
  });
  const client = connect(server.address);
  return {
    server,
    client,
    async close() {
      client.close();
      await server.shutdown(2000);
      if (ownDir) fs.rmSync(ownDir, { recursive: true, force: true });
    },
  };
}
