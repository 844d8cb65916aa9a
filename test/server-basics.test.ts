// The server answers health, lists its services through reflection, and says UNIMPLEMENTED
// for contract RPCs it does not serve yet.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import path from "node:path";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { startTestServer, type TestServer } from "./helpers/server.js";

let t: TestServer;
before(async () => {
  t = await startTestServer();
});
after(() => t.close());

test("health reports SERVING for the server and for ModelService", async () => {
  assert.equal(await t.client.health(""), "SERVING");
  assert.equal(await t.client.health("modelbay.v1.ModelService"), "SERVING");
});

test("reflection lists ModelService and health", async () => {
  const require = createRequire(import.meta.url);
  const protoFile = path.join(
    path.dirname(require.resolve("@grpc/reflection/package.json")),
    "build/proto/grpc/reflection/v1/reflection.proto",
  );
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(protoFile, { keepCase: true })) as unknown as {
    grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } };
  };
  const client = new pkg.grpc.reflection.v1.ServerReflection(t.server.address, grpc.credentials.createInsecure());
  try {
    const names = await new Promise<string[]>((resolve, reject) => {
      const open = client.ServerReflectionInfo as () => grpc.ClientDuplexStream<unknown, unknown>;
      const call = open.call(client);
      call.on("data", (res: { list_services_response?: { service: { name: string }[] } }) => {
        resolve(res.list_services_response?.service.map((s) => s.name) ?? []);
        call.end();
      });
      call.on("error", reject);
      call.write({ list_services: "" });
    });
    assert.ok(names.includes("modelbay.v1.ModelService"), `services: ${names.join(", ")}`);
    assert.ok(names.includes("grpc.health.v1.Health"), `services: ${names.join(", ")}`);
  } finally {
    client.close();
  }
});

test("a method the server does not serve answers UNIMPLEMENTED", async () => {
  const client = new grpc.Client(t.server.address, grpc.credentials.createInsecure());
  try {
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      client.makeUnaryRequest(
        "/modelbay.v1.ModelService/NoSuchMethod",
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.alloc(0),
        (e) => resolve(e as grpc.ServiceError),
      );
    });
    assert.equal(err.code, grpc.status.UNIMPLEMENTED);
  } finally {
    client.close();
  }
});

test("GetServerInfo names the backend in use", async () => {
  const info = await t.client.getServerInfo({});
  assert.ok(["tensorflow", "tensorflow-gpu", "wasm", "cpu"].includes(info.backend), info.backend);
  assert.equal(info.tfjsVersion, "4.22.0");
  assert.equal(info.devices[0]?.name, "cpu:0");
});
