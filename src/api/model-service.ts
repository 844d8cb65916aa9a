// gRPC handlers of modelbay.v1.ModelService: translate wire <-> domain, nothing else.
import type { BackendInfo } from "../compute/backend.js";
import type { ModelInfo } from "../gen/modelbay/v1/model.js";
import type {
  CreateModelRequest,
  CreateModelResponse,
  DeleteModelRequest,
  DeleteModelResponse,
  GetModelRequest,
  GetModelResponse,
  GetServerInfoResponse,
  ListModelsResponse,
  ModelServiceServer,
  PredictRequest,
  PredictResponse,
} from "../gen/modelbay/v1/model_service.js";
import type { Session, SessionManager } from "../sessions/session-manager.js";
import { type AdapterDeps, unary, unimplemented } from "./grpc-adapters.js";
import { specFromWire, specToWire } from "./spec-codec.js";
import { dataTypeToWire, type TensorLimits, tensorFromWire, tensorToWire } from "./tensor-codec.js";

export interface ModelServiceDeps extends AdapterDeps {
  sessions: SessionManager;
  backend: BackendInfo;
  limits: TensorLimits;
  version: string;
}

function modelInfo(session: Session, backend: string): ModelInfo {
  const d = session.model.description;
  const sig = (s: (typeof d.inputs)[number]) => ({ name: s.name, dtype: dataTypeToWire(s.dtype), shape: s.shape });
  return {
    modelId: session.id,
    spec: specToWire(session.spec),
    inputs: d.inputs.map(sig),
    outputs: d.outputs.map(sig),
    preprocessing: session.spec.preprocessing,
    placement: { device: session.device, backend },
    parameterCount: d.parameterCount,
    weightBytes: d.weightBytes,
    createTime: session.createTime,
    trainable: true,
  };
}

export function modelServiceHandlers(deps: ModelServiceDeps): ModelServiceServer {
  const { sessions } = deps;
  const backendName = deps.backend.name;
  return {
    getServerInfo: unary(
      "GetServerInfo",
      deps,
      async (): Promise<GetServerInfoResponse> => ({
        version: deps.version,
        backend: deps.backend.name,
        tensorflowVersion: deps.backend.tensorflowVersion,
        tfjsVersion: deps.backend.tfjsVersion,
        devices: [{ name: "cpu:0", kind: "cpu", sessionCount: sessions.list().length }],
      }),
    ),

    createModel: unary("CreateModel", deps, async (req: CreateModelRequest): Promise<CreateModelResponse> => {
      const spec = specFromWire(req.spec);
      return { model: modelInfo(await sessions.create(req.modelId, spec), backendName) };
    }),

    getModel: unary(
      "GetModel",
      deps,
      async (req: GetModelRequest): Promise<GetModelResponse> => ({
        model: modelInfo(sessions.get(req.modelId), backendName),
      }),
    ),

    listModels: unary(
      "ListModels",
      deps,
      async (): Promise<ListModelsResponse> => ({
        models: sessions.list().map((s) => modelInfo(s, backendName)),
      }),
    ),

    deleteModel: unary("DeleteModel", deps, async (req: DeleteModelRequest): Promise<DeleteModelResponse> => {
      sessions.delete(req.modelId);
      return {};
    }),

    predict: unary("Predict", deps, async (req: PredictRequest): Promise<PredictResponse> => {
      const inputs = req.inputs.map((t, i) => ({
        name: t.name,
        tensor: tensorFromWire(t, `inputs[${i}]`, deps.limits),
      }));
      const outputs = await sessions.predict(req.modelId, inputs);
      return { modelId: req.modelId, outputs: outputs.map((o) => tensorToWire(o.name, o.tensor, req.rawOutput)) };
    }),

    predictStream: unimplemented("PredictStream"),
    train: unimplemented("Train"),
    checkpoint: unimplemented("Checkpoint"),
    listCheckpoints: unimplemented("ListCheckpoints"),
    getCheckpoint: unimplemented("GetCheckpoint"),
    deleteCheckpoint: unimplemented("DeleteCheckpoint"),
    restore: unimplemented("Restore"),
  };
}
