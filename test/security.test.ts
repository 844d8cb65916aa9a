// Transport security and authentication over real loopback gRPC, with certificates this test makes
// with openssl: a bearer token (health stays open), TLS, and mutual TLS where a client certificate
// from another CA, or none, gets UNAUTHENTICATED; failures are logged without the secret.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { type ClientSecurity, connect } from "../src/cli/client.js";
import type { Logger } from "../src/log.js";
import { startServer } from "../src/server.js";
import { tempDir } from "./helpers/server.js";

let dir: string;
const pem = (name: string) => fs.readFileSync(path.join(dir, name));
const file = (name: string) => path.join(dir, name);

function openssl(...args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
}

/** A CA, and a certificate it signs (with a SAN for the loopback address when it is a server's). */
/** A new RSA key `<name>.key` and a request or self-signed certificate for CN=<name>. */
function newKey(name: string, ...output: string[]): void {
  openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-subj", `/CN=${name}`, ...output);
}
function makeCa(name: string): void {
  newKey(name, "-x509", "-days", "2", "-out", `${name}.pem`);
}
function makeCert(name: string, ca: string, server: boolean): void {
  newKey(name, "-out", `${name}.csr`);
  fs.writeFileSync(file(`${name}.ext`), server ? "subjectAltName=IP:127.0.0.1\n" : "extendedKeyUsage=clientAuth\n");
  openssl(
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    `${ca}.pem`,
    "-CAkey",
    `${ca}.key`,
    "-CAcreateserial",
    "-out",
    `${name}.pem`,
    "-days",
    "2",
    "-extfile",
    `${name}.ext`,
  );
}

before(() => {
  dir = tempDir("modelbay-tls-");
  makeCa("ca");
  makeCa("other-ca");
  makeCert("server", "ca", true);
  makeCert("client", "ca", false);
  makeCert("stranger", "other-ca", false);
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function capturingLogger(lines: string[]): Logger {
  const write = (level: string) => (msg: string, fields?: Record<string, unknown>) =>
    void lines.push(JSON.stringify({ level, msg, ...fields }));
  return { debug: write("debug"), info: write("info"), warn: write("warn"), error: write("error") };
}

async function withServer(
  options: Parameters<typeof startServer>[0],
  body: (address: string, logs: string[]) => Promise<void>,
): Promise<void> {
  const logs: string[] = [];
  const store = tempDir();
  const server = await startServer({
    address: "127.0.0.1:0",
    checkpointDir: store,
    log: capturingLogger(logs),
    ...options,
  });
  try {
    await body(server.address, logs);
  } finally {
    await server.shutdown(1000);
    fs.rmSync(store, { recursive: true, force: true });
  }
}

async function call(address: string, security: ClientSecurity): Promise<grpc.status> {
  const client = connect(address, security);
  try {
    await client.getServerInfo({}, { deadline: Date.now() + 5000 });
    return grpc.status.OK;
  } catch (err) {
    return (err as grpc.ServiceError).code;
  } finally {
    client.close();
  }
}

async function details(address: string, security: ClientSecurity): Promise<string> {
  const client = connect(address, security);
  try {
    await client.getServerInfo({}, { deadline: Date.now() + 5000 });
    return "";
  } catch (err) {
    return (err as grpc.ServiceError).details;
  } finally {
    client.close();
  }
}

const SECRET = "s3cret-token-4f9a";

test("a bearer token: missing or wrong is UNAUTHENTICATED, health stays open, the secret is never logged", async () => {
  await withServer({ authToken: SECRET }, async (address, logs) => {
    assert.equal(await call(address, {}), grpc.status.UNAUTHENTICATED);
    assert.match(await details(address, {}), /missing bearer token/);
    assert.equal(await call(address, { token: "guess" }), grpc.status.UNAUTHENTICATED);
    assert.match(await details(address, { token: "guess" }), /wrong bearer token/);
    assert.equal(await call(address, { token: SECRET }), grpc.status.OK);
    const probe = connect(address, {});
    try {
      assert.equal(await probe.health(), "SERVING");
    } finally {
      probe.close();
    }
    const warned = logs.filter((l) => l.includes("unauthenticated call"));
    assert.ok(warned.length >= 2);
    assert.ok(!logs.some((l) => l.includes(SECRET) || l.includes("guess")), "no token in the logs");
  });
});

test("TLS: a client that trusts the CA connects; a plaintext client does not", async () => {
  await withServer({ tlsCert: file("server.pem"), tlsKey: file("server.key") }, async (address) => {
    assert.equal(await call(address, { ca: pem("ca.pem") }), grpc.status.OK);
    assert.equal(await call(address, {}), grpc.status.UNAVAILABLE);
  });
});

test("mutual TLS: a certificate from the CA passes; none, or one from another CA, is UNAUTHENTICATED", async () => {
  const options = {
    tlsCert: file("server.pem"),
    tlsKey: file("server.key"),
    tlsClientCa: file("ca.pem"),
    authToken: SECRET,
  };
  await withServer(options, async (address) => {
    const ca = pem("ca.pem");
    assert.equal(
      await call(address, { ca, cert: pem("client.pem"), key: pem("client.key"), token: SECRET }),
      grpc.status.OK,
    );
    assert.match(await details(address, { ca, token: SECRET }), /no client certificate issued by the configured CA/);
    assert.match(
      await details(address, { ca, cert: pem("stranger.pem"), key: pem("stranger.key"), token: SECRET }),
      /no client certificate issued by the configured CA/,
    );
    // A good certificate does not replace the token.
    assert.match(
      await details(address, { ca, cert: pem("client.pem"), key: pem("client.key") }),
      /missing bearer token/,
    );
    const probe = connect(address, { ca });
    try {
      assert.equal(await probe.health(), "SERVING");
    } finally {
      probe.close();
    }
  });
});

test("bad security settings fail at start with the setting and file named", async () => {
  const start = (o: Parameters<typeof startServer>[0]) =>
    startServer({ address: "127.0.0.1:0", checkpointDir: tempDir(), ...o });
  await assert.rejects(start({ tlsCert: file("server.pem") }), /tls-cert and tls-key: give both or neither/);
  await assert.rejects(
    start({ tlsCert: file("server.pem"), tlsKey: file("client.key") }),
    /tls-cert \/ tls-key: .*key values mismatch/,
  );
  await assert.rejects(
    start({ tlsCert: file("nope.pem"), tlsKey: file("server.key") }),
    /tls-cert: cannot read .*nope\.pem \(ENOENT\)/,
  );
  await assert.rejects(start({ tlsClientCa: file("ca.pem") }), /tls-client-ca: mutual TLS needs tls-cert and tls-key/);
  await assert.rejects(start({ authToken: " " }), /auth token: must not be empty/);
});
