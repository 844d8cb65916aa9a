// The native provisioning step: offline with an empty cache it fails clearly and leaves no addon
// behind; offline with a warm cache it installs a loading addon. Runs on a copy of tfjs-node.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";

const root = path.resolve(import.meta.dirname, "..");
const script = path.join(root, "scripts/provision-native.mjs");
const realTfjsNode = path.join(root, "node_modules/@tensorflow/tfjs-node");
const linuxX64 = process.platform === "linux" && process.arch === "x64";
// pip fails fast against a closed loopback port: no network, no package index.
const offline = {
  PIP_INDEX_URL: "http://127.0.0.1:9/simple",
  PIP_FIND_LINKS: "",
  PIP_NO_INPUT: "1",
  PIP_RETRIES: "0",
  PIP_DEFAULT_TIMEOUT: "2",
};

let scratch: string;
let copies: string;
before(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), "modelbay-provision-"));
  // Copies live inside node_modules so that they resolve @tensorflow/tfjs like the real one.
  copies = fs.mkdtempSync(path.join(root, "node_modules", ".modelbay-test-"));
});
after(() => {
  fs.rmSync(scratch, { recursive: true, force: true });
  fs.rmSync(copies, { recursive: true, force: true });
});

function copyTfjsNode(name: string): string {
  const dir = path.join(copies, name);
  for (const part of ["package.json", "dist", "binding", "binding.gyp"]) {
    fs.cpSync(path.join(realTfjsNode, part), path.join(dir, part), { recursive: true });
  }
  return dir;
}

function provision(tfjsDir: string, env: Record<string, string>) {
  return spawnSync(process.execPath, [script], {
    encoding: "utf8",
    env: { ...process.env, ...offline, MODELBAY_TFJS_NODE_DIR: tfjsDir, ...env },
    timeout: 120_000,
  });
}

test("offline with an empty cache it fails, names what it needs, and leaves no addon", {
  skip: !linuxX64 && "native provisioning is linux-x64 only",
}, () => {
  const dir = copyTfjsNode("empty-cache");
  const binding = path.join(dir, "lib/napi-v8/tfjs_binding.node");
  fs.mkdirSync(path.dirname(binding), { recursive: true });
  fs.writeFileSync(binding, "a half-written addon");
  const r = provision(dir, { MODELBAY_CACHE_DIR: path.join(scratch, "empty") });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /FAILED at download: pip could not fetch tensorflow-cpu==2\.18\.0/);
  assert.match(r.stderr, /how to fix: .*PyPI.*tensorflow_cpu-2\.18\.0-cp311/);
  assert.equal(fs.existsSync(binding), false, "the broken addon must be removed");
});

test("offline with a warm cache it installs an addon that loads native TensorFlow, with modelbay's additions", {
  skip: !linuxX64 && "native provisioning is linux-x64 only",
}, () => {
  const dir = copyTfjsNode("warm-cache");
  const r = provision(dir, {});
  assert.equal(r.status, 0, r.stderr);
  const probe = spawnSync(
    process.execPath,
    [
      "-e",
      `const tf = require(${JSON.stringify(dir)}); const b = tf.backend().binding; console.log(tf.getBackend(), b.TF_Version, typeof b.tensorDataInto, typeof b.setSessionIntraOpThreads)`,
    ],
    { encoding: "utf8", env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: "2" } },
  );
  assert.equal(probe.status, 0, probe.stderr);
  // With modelbay's additions (native/tfjs-node-additions) built in.
  assert.equal(probe.stdout.trim(), "tensorflow 2.18.0 function function");
});
