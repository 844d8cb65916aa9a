// A client that cancels calls faster than HTTP/2's rapid-reset limit (as ~1,000 deadlines expiring
// at once do under overload) has its connection stopped by the server's HTTP/2 layer, which then
// neither reads nor closes the socket. Without the server's keepalive pings each such connection
// stayed half-open (CLOSE-WAIT) for good; with them it is closed.
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { connect } from "../src/cli/client.js";
import type { PredictRequest } from "../src/gen/modelbay/v1/model_service.js";
import { startPredict } from "./helpers/predict-call.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { denseSpec } from "./helpers/specs.js";
import { floatTensor } from "./helpers/tensors.js";

let t: TestServer;
before(async () => {
  t = await startTestServer({ keepaliveSeconds: 1 });
  await t.client.createModel({ modelId: "m", spec: denseSpec(1) });
});
after(() => t.close());

/** The server's IPv4 sockets on `port` in CLOSE-WAIT (state 08 in /proc/net/tcp). */
function halfOpen(port: number): number {
  const local = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  return fs
    .readFileSync("/proc/net/tcp", "utf8")
    .split("\n")
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f[1]?.endsWith(local) && f[3] === "08").length;
}

test("connections left half-open by a burst of cancelled calls are closed", { timeout: 60_000 }, async () => {
  const port = Number(t.server.address.split(":").pop());
  const client = connect(t.server.address);
  const request: PredictRequest = {
    modelId: "m",
    inputs: [floatTensor(new Float32Array(10), [1, 10], true)],
    rawOutput: true,
  };
  const codes = new Map<number, number>();
  const calls: Promise<void>[] = [];
  for (let i = 0; i < 2000; i++) {
    calls.push(
      new Promise((resolve) => {
        const call = startPredict(client, request, {}, (err) => {
          const code = err?.code ?? 0;
          codes.set(code, (codes.get(code) ?? 0) + 1);
          resolve();
        });
        setImmediate(() => call.cancel());
      }),
    );
    if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(calls);
  client.close();
  // The burst must have tripped the limit, or this test checks nothing: grpc-js reports the
  // stopped connection as INTERNAL on the call in flight.
  assert.ok(
    (codes.get(grpc.status.INTERNAL) ?? 0) > 0,
    `no call saw the connection stopped (codes: ${JSON.stringify([...codes])})`,
  );
  let left = halfOpen(port);
  for (let i = 0; i < 100 && left > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    left = halfOpen(port);
  }
  assert.equal(left, 0, "the server still holds half-open connections 10 s after the burst");

  // The server goes on serving.
  const again = await t.client.predict({ modelId: "m", inputs: request.inputs, rawOutput: true });
  assert.equal(again.outputs.length, 1);
});
