// `modelbay serve` as a real process: it logs where it listens, serves health, and exits 0 on
// SIGTERM and SIGINT; bad settings exit 2 naming the setting.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { connect } from "../src/cli/client.js";
import { denseSpec } from "./helpers/specs.js";

const bin = path.resolve(import.meta.dirname, "../bin/modelbay.mjs");

function startServe(): Promise<{ child: ChildProcess; address: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "modelbay-serve-"));
  const child = spawn(process.execPath, [bin, "serve", "--address", "127.0.0.1:0", "--checkpoint-dir", dir], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  child.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  return new Promise((resolve, reject) => {
    let buffered = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      for (const line of buffered.split("\n")) {
        if (!line.startsWith("{")) continue;
        const entry = JSON.parse(line) as { msg?: string; address?: string };
        if (entry.msg === "serving" && entry.address) resolve({ child, address: entry.address });
      }
    });
    child.on("exit", (code) => reject(new Error(`serve exited early with ${code}: ${buffered}`)));
  });
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  test(`serve answers health and exits 0 on ${signal}`, async () => {
    const { child, address } = await startServe();
    const client = connect(address);
    try {
      assert.equal(await client.health(), "SERVING");
    } finally {
      client.close();
    }
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    child.kill(signal);
    assert.equal(await exited, 0);
  });
}

test("a bad setting exits 2 and names it", () => {
  const r = spawnSync(process.execPath, [bin, "serve", "--backend", "tpu"], { encoding: "utf8" });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown backend "tpu"/);
  const env = spawnSync(process.execPath, [bin, "serve"], {
    encoding: "utf8",
    env: { ...process.env, MODELBAY_MAX_SESSIONS: "0" },
  });
  assert.equal(env.status, 2);
  assert.match(env.stderr, /max-sessions: expected a positive integer, got "0"/);
  const grace = spawnSync(process.execPath, [bin, "serve", "--shutdown-grace-seconds", "soon"], { encoding: "utf8" });
  assert.equal(grace.status, 2);
  assert.match(grace.stderr, /shutdown-grace-seconds: expected seconds >= 0, got "soon"/);
  const growing = spawnSync(process.execPath, [bin, "serve", "--heap-growing-percent", "lots"], { encoding: "utf8" });
  assert.equal(growing.status, 2);
  assert.match(growing.stderr, /heap-growing-percent: expected an integer from 0 to 1000, got "lots"/);
  const writes = spawnSync(process.execPath, [bin, "serve", "--checkpoint-writes", "sometimes"], { encoding: "utf8" });
  assert.equal(writes.status, 2);
  assert.match(writes.stderr, /checkpoint-writes: expected direct or cached, got "sometimes"/);
  const reads = spawnSync(process.execPath, [bin, "serve", "--checkpoint-reads", "borrowed"], { encoding: "utf8" });
  assert.equal(reads.status, 2);
  assert.match(reads.stderr, /checkpoint-reads: expected mapped or copied, got "borrowed"/);
});

test("a config file supplies settings under env and flags; unknown keys, bad values and an unwritable checkpoint dir exit 2", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "modelbay-config-"));
  try {
    const write = (name: string, body: unknown) => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, typeof body === "string" ? body : JSON.stringify(body));
      return file;
    };
    const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
      spawnSync(process.execPath, [bin, "serve", ...args], {
        encoding: "utf8",
        env: { ...process.env, ...env },
        timeout: 60_000,
      });
    const unknown = run(["--config", write("unknown.json", { address: "127.0.0.1:0", "max-sesions": 3 })]);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /config: unknown key "max-sesions"/);
    const badValue = run(["--config", write("bad.json", { "max-sessions": "many" })]);
    assert.equal(badValue.status, 2);
    assert.match(badValue.stderr, /max-sessions: expected a positive integer, got "many"/);
    const notJson = run([], { MODELBAY_CONFIG: write("broken.json", "{ address: ") });
    assert.equal(notJson.status, 2);
    assert.match(notJson.stderr, /config: cannot read .*broken\.json/);
    // A flag wins over the file: the file's value is not applied.
    const overridden = run([
      "--config",
      write("over.json", { "max-sessions": "many" }),
      "--max-sessions",
      "2",
      "--help",
    ]);
    assert.equal(overridden.status, 0, overridden.stderr);
    assert.match(overridden.stdout, /--config FILE/);
    const blocker = write("not-a-dir", "x");
    const unwritable = run(["--address", "127.0.0.1:0", "--checkpoint-dir", path.join(blocker, "ckpts")]);
    assert.equal(unwritable.status, 2);
    assert.match(unwritable.stderr, /checkpoint-dir: .*not-a-dir\/ckpts is not a writable directory \(ENOTDIR\)/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("settings from the config file take effect", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "modelbay-config-"));
  const file = path.join(dir, "modelbay.json");
  fs.writeFileSync(
    file,
    JSON.stringify({ address: "127.0.0.1:0", "checkpoint-dir": path.join(dir, "ck"), "max-sessions": 1 }),
  );
  const child = spawn(process.execPath, [bin, "serve", "--config", file], { stdio: ["ignore", "ignore", "pipe"] });
  try {
    const address = await new Promise<string>((resolve, reject) => {
      let buffered = "";
      child.stderr?.on("data", (chunk: Buffer) => {
        buffered += chunk.toString();
        const m = /"msg":"serving","address":"([^"]+)"/.exec(buffered);
        if (m?.[1]) resolve(m[1]);
      });
      child.on("exit", (code) => reject(new Error(`exited ${code}: ${buffered}`)));
    });
    assert.ok(fs.existsSync(path.join(dir, "ck")), "checkpoint-dir from the file");
    const client = connect(address);
    try {
      await client.createModel({ modelId: "one", spec: denseSpec(1) });
      // max-sessions 1 from the file: a second unsaved model does not fit.
      await assert.rejects(client.createModel({ modelId: "two", spec: denseSpec(2) }), /maximum of 1 models/);
    } finally {
      client.close();
    }
  } finally {
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
