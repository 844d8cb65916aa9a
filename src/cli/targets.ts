// Where CLI checkpoint commands act: a running server (--server) or, offline, a checkpoint
// directory read in-process (--store). Both answer the same questions the same way.
import { randomBytes } from "node:crypto";
import { tensorToWire } from "../api/tensor-codec.js";
import { CheckpointStore } from "../checkpoints/checkpoint-store.js";
import { type CheckpointDescription, describeCheckpoint } from "../checkpoints/describe.js";
import { parseBackendChoice } from "../compute/backend-choice.js";
import { DevicePool } from "../compute/device-pool.js";
import { createInProcessEngine } from "../compute/in-process-engine.js";
import type { NamedTensor } from "../sessions/input-check.js";
import { SessionManager } from "../sessions/session-manager.js";
import { UsageError } from "./args.js";
import { connect, defaultServerAddress } from "./client.js";
import { fromServer } from "./tensors.js";

export type CheckpointRow = Omit<CheckpointDescription, "createTime" | "fileCount" | "backend"> & {
  createTime: Date | undefined;
};

export interface Target {
  /** Restores a checkpoint into a scratch session, predicts, and drops the session. */
  predictFromCheckpoint(
    modelId: string,
    checkpointId: string,
    inputs: NamedTensor[],
  ): Promise<{ checkpointId: string; outputs: NamedTensor[]; warnings: string[] }>;
  listCheckpoints(modelId: string): Promise<CheckpointRow[]>;
  createCheckpoint(modelId: string): Promise<string>;
  deleteCheckpoint(modelId: string, checkpointId: string, force: boolean): Promise<void>;
  close(): void;
}

const scratchId = (modelId: string) => `${modelId.slice(0, 100)}-verify-${randomBytes(4).toString("hex")}`;

export function remoteTarget(address: string): Target {
  const client = connect(address);
  return {
    async predictFromCheckpoint(modelId, checkpointId, inputs) {
      const target = scratchId(modelId);
      const restored = await client.restore({
        source: { $case: "checkpoint", checkpoint: { modelId, checkpointId } },
        targetModelId: target,
        resume: false,
      });
      try {
        const res = await client.predict({
          modelId: target,
          inputs: inputs.map((i) => tensorToWire(i.name, i.tensor, true)),
          rawOutput: true,
        });
        return {
          checkpointId: restored.checkpointId,
          outputs: res.outputs.map((o, i) => ({ name: o.name, tensor: fromServer(o, `outputs[${i}]`) })),
          warnings: restored.warnings,
        };
      } finally {
        await client.deleteModel({ modelId: target, deleteCheckpoints: false });
      }
    },
    async listCheckpoints(modelId) {
      const { checkpoints } = await client.listCheckpoints({ modelId });
      return checkpoints.map((c) => ({
        id: c.checkpointId,
        latest: c.latest,
        epoch: c.epoch,
        step: c.step,
        sizeBytes: c.sizeBytes,
        fingerprint: c.fingerprint,
        metrics: c.metrics,
        createTime: c.createTime,
      }));
    },
    async createCheckpoint(modelId) {
      return (await client.checkpoint({ modelId })).checkpoint?.checkpointId ?? "";
    },
    async deleteCheckpoint(modelId, checkpointId, force) {
      await client.deleteCheckpoint({ modelId, checkpointId, force });
    },
    close: () => client.close(),
  };
}

export async function localTarget(dir: string): Promise<Target> {
  const engine = await createInProcessEngine(parseBackendChoice(process.env.MODELBAY_BACKEND));
  // No init(): an offline check only reads, and must not touch a live server's temporaries.
  const store = new CheckpointStore(dir);
  const sessions = new SessionManager(DevicePool.cpuOnly(engine), store, {
    maxSessions: 4,
    maxSessionBytes: Number.POSITIVE_INFINITY,
  });
  return {
    async predictFromCheckpoint(modelId, checkpointId, inputs) {
      const target = scratchId(modelId);
      const restored = await sessions.restore(modelId, checkpointId, target, false);
      try {
        return {
          checkpointId: restored.checkpoint.id,
          outputs: await sessions.predict(target, inputs),
          warnings: restored.warnings,
        };
      } finally {
        await sessions.delete(target, false);
      }
    },
    async listCheckpoints(modelId) {
      const latest = await store.latestId(modelId);
      return Promise.all((await store.list(modelId)).map((c) => describeCheckpoint(store, modelId, c, latest)));
    },
    async createCheckpoint() {
      throw new UsageError("checkpoint create needs a running server (--server): it saves a live session");
    },
    async deleteCheckpoint(modelId, checkpointId, force) {
      await store.delete(modelId, checkpointId, force);
    },
    close: () => sessions.closeAll(),
  };
}

export async function targetFrom(server: string | undefined, storeDir: string | undefined): Promise<Target> {
  if (server && storeDir) throw new UsageError("give either --server or --store, not both");
  if (storeDir) return localTarget(storeDir);
  return remoteTarget(server ?? defaultServerAddress());
}
