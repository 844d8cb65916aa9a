// `modelbay serve` as a real process: it logs where it listens, serves health, and exits 0 on
// SIGTERM and SIGINT; bad settings exit 2 naming the setting.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { connect } from "../src/cli/client.js";

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
});
