// Backend selection: the preference order, and (where the test command expects it) that the native
// TensorFlow backend is the one actually serving, so a broken provisioning cannot hide behind WASM.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { backendCandidates, detectCuda, parseBackendChoice } from "../src/compute/backend-choice.js";
import { startTestServer, type TestServer } from "./helpers/server.js";

test("auto prefers GPU when CUDA is present, then native, WASM and pure JS", () => {
  assert.deepEqual(backendCandidates("auto", true), ["tensorflow-gpu", "tensorflow", "wasm", "cpu"]);
  assert.deepEqual(backendCandidates("auto", false), ["tensorflow", "wasm", "cpu"]);
  assert.deepEqual(backendCandidates("wasm", true), ["wasm"]);
});

test("CUDA is detected from the NVIDIA driver", () => {
  assert.equal(
    detectCuda((p) => p === "/proc/driver/nvidia/version"),
    true,
  );
  assert.equal(
    detectCuda(() => false),
    false,
  );
});

test("backend choices are parsed strictly", () => {
  assert.equal(parseBackendChoice(undefined), "auto");
  assert.equal(parseBackendChoice(" TensorFlow "), "tensorflow");
  assert.throws(
    () => parseBackendChoice("tpu"),
    /unknown backend "tpu"; expected auto, tensorflow-gpu, tensorflow, wasm, cpu/,
  );
});

const expected = process.env.MODELBAY_EXPECT_BACKEND;
let t: TestServer;
before(async () => {
  t = await startTestServer();
});
after(() => t.close());

test("the server runs on the backend the test command expects", {
  skip: !expected && "MODELBAY_EXPECT_BACKEND is not set",
}, async () => {
  const info = await t.client.getServerInfo({});
  assert.equal(info.backend, expected, `serving on ${info.backend}; native provisioning may have failed`);
  if (expected === "tensorflow") assert.equal(info.tensorflowVersion, "2.18.0");
});

test("under CI the native backend is required", { skip: process.env.CI !== "true" && "not under CI" }, () => {
  assert.equal(expected, "tensorflow", "CI must run the tests on native TensorFlow");
});
