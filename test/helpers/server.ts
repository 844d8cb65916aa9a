// Starts a real server on a free loopback port and connects a client to it.
import { connect, type ModelbayClient } from "../../src/cli/client.js";
import { parseBackendChoice } from "../../src/compute/backend.js";
import { silentLogger } from "../../src/log.js";
import { type RunningServer, type ServerOptions, startServer } from "../../src/server.js";

export interface TestServer {
  server: RunningServer;
  client: ModelbayClient;
  close(): Promise<void>;
}

export async function startTestServer(options: Partial<ServerOptions> = {}): Promise<TestServer> {
  const server = await startServer({
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
    },
  };
}
