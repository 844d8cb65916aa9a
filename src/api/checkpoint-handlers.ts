// Checkpoint, ListCheckpoints, GetCheckpoint, DeleteCheckpoint and Restore.
import type { StoredCheckpoint } from "../checkpoints/checkpoint-store.js";
import { describeCheckpoint } from "../checkpoints/describe.js";
import { compareOutput } from "../checkpoints/verify.js";
import { Code, invalidArgument, ModelbayError } from "../errors.js";
import type { CheckpointInfo, Goldens, VerificationReport } from "../gen/modelbay/v1/checkpoint.js";
import type {
  CheckpointRequest,
  CheckpointResponse,
  DeleteCheckpointRequest,
  DeleteCheckpointResponse,
  GetCheckpointRequest,
  GetCheckpointResponse,
  ListCheckpointsRequest,
  ListCheckpointsResponse,
  ModelServiceServer,
  RestoreRequest,
  RestoreResponse,
} from "../gen/modelbay/v1/model_service.js";
import { checkModelId } from "../sessions/model-id.js";
import type { SessionManager } from "../sessions/session-manager.js";
import type { HandlerDeps } from "./deps.js";
import { unary } from "./grpc-adapters.js";
import { modelInfo } from "./model-info.js";
import { specFromWire } from "./spec-codec.js";
import { tensorFromWire } from "./tensor-codec.js";

type CheckpointHandlers = Pick<
  ModelServiceServer,
  "checkpoint" | "listCheckpoints" | "getCheckpoint" | "deleteCheckpoint" | "restore"
>;

async function checkpointInfo(
  sessions: SessionManager,
  modelId: string,
  c: StoredCheckpoint,
  latest: string | undefined,
): Promise<CheckpointInfo> {
  const { id, ...d } = await describeCheckpoint(sessions.store, modelId, c, latest);
  return { checkpointId: id, modelId, ...d };
}

/** Predicts the goldens' inputs on a session and compares with the expected outputs. */
async function verifyGoldens(deps: HandlerDeps, modelId: string, goldens: Goldens): Promise<VerificationReport> {
  if (goldens.expectedOutputs.length === 0) throw invalidArgument("goldens.expected_outputs", "is empty");
  if (!(goldens.atol >= 0) || !(goldens.rtol >= 0)) throw invalidArgument("goldens", "atol and rtol must be >= 0");
  const inputs = goldens.inputs.map((t, i) => ({
    name: t.name,
    tensor: tensorFromWire(t, `goldens.inputs[${i}]`, deps.limits),
  }));
  const outputs = await deps.sessions.predictUnbounded(modelId, inputs);
  const checks = goldens.expectedOutputs.map((e, i) => {
    const expected = tensorFromWire(e, `goldens.expected_outputs[${i}]`, deps.limits);
    const actual = (e.name === "" && outputs.length === 1 ? outputs[0] : outputs.find((o) => o.name === e.name))
      ?.tensor;
    if (!actual) throw invalidArgument(`goldens.expected_outputs[${i}].name`, `the model has no output "${e.name}"`);
    const { problem: _, ...check } = compareOutput(
      e.name || (outputs[0]?.name ?? ""),
      actual,
      expected,
      goldens.atol,
      goldens.rtol,
    );
    return check;
  });
  return { passed: checks.every((c) => c.passed), outputs: checks };
}

export function checkpointHandlers(deps: HandlerDeps): CheckpointHandlers {
  const { sessions } = deps;
  const store = sessions.store;
  return {
    checkpoint: unary("Checkpoint", deps, async (req: CheckpointRequest): Promise<CheckpointResponse> => {
      const saved = await sessions.checkpoint(req.modelId);
      return { checkpoint: await checkpointInfo(sessions, req.modelId, saved, saved.id) };
    }),

    listCheckpoints: unary(
      "ListCheckpoints",
      deps,
      async (req: ListCheckpointsRequest): Promise<ListCheckpointsResponse> => {
        const modelId = checkModelId(req.modelId);
        const latest = await store.latestId(modelId);
        const all = await store.list(modelId);
        const described = await Promise.all(
          all.map((c) =>
            checkpointInfo(sessions, modelId, c, latest).catch((err: unknown) => {
              // One deleted while it was being described is simply not listed.
              if (err instanceof ModelbayError && err.code === Code.NOT_FOUND) return undefined;
              throw err;
            }),
          ),
        );
        return { checkpoints: described.filter((c) => c !== undefined) };
      },
    ),

    getCheckpoint: unary("GetCheckpoint", deps, async (req: GetCheckpointRequest): Promise<GetCheckpointResponse> => {
      const modelId = checkModelId(req.modelId);
      const read = await store.read(modelId, req.checkpointId || "latest");
      return {
        checkpoint: await checkpointInfo(sessions, modelId, read, await store.latestId(modelId)),
        files: read.manifest.files.map((f) => ({ path: f.path, sizeBytes: f.size, sha256: f.sha256 })),
      };
    }),

    deleteCheckpoint: unary(
      "DeleteCheckpoint",
      deps,
      async (req: DeleteCheckpointRequest): Promise<DeleteCheckpointResponse> => {
        await store.delete(checkModelId(req.modelId), req.checkpointId, req.force);
        return {};
      },
    ),

    restore: unary("Restore", deps, async (req: RestoreRequest): Promise<RestoreResponse> => {
      const source = req.source;
      if (!source) throw invalidArgument("source", "set checkpoint or artifact_path");
      if (source.$case === "artifactPath") {
        if (req.resume)
          throw invalidArgument("resume", "applies to modelbay checkpoints, which carry a training state");
        const spec = req.spec ? specFromWire(req.spec) : undefined;
        const imported = await sessions.restoreArtifact(deps.artifactDir, source.artifactPath, req.targetModelId, spec);
        const response: RestoreResponse = {
          model: modelInfo(imported.session, deps.backend.name),
          checkpointId: "",
          warnings: imported.warnings,
        };
        if (req.goldens) response.verification = await verifyGoldens(deps, imported.session.id, req.goldens);
        return response;
      }
      const { modelId, checkpointId } = source.checkpoint;
      const restored = await sessions.restore(modelId, checkpointId || "latest", req.targetModelId, req.resume);
      const response: RestoreResponse = {
        model: modelInfo(restored.session, deps.backend.name),
        checkpointId: restored.checkpoint.id,
        warnings: restored.warnings,
      };
      if (req.goldens) response.verification = await verifyGoldens(deps, restored.session.id, req.goldens);
      return response;
    }),
  };
}
