import type { ModelInfo } from "../gen/modelbay/v1/model.js";
import type { Session } from "../sessions/session-manager.js";
import { specToWire } from "./spec-codec.js";
import { dataTypeToWire } from "./tensor-codec.js";

export function modelInfo(session: Session, backend: string): ModelInfo {
  const d = session.model.description;
  const sig = (s: (typeof d.inputs)[number]) => ({ name: s.name, dtype: dataTypeToWire(s.dtype), shape: s.shape });
  return {
    modelId: session.id,
    ...(session.spec ? { spec: specToWire(session.spec) } : {}),
    inputs: d.inputs.map(sig),
    outputs: d.outputs.map(sig),
    preprocessing: session.spec?.preprocessing ?? "",
    placement: { device: session.device, backend },
    parameterCount: d.parameterCount,
    weightBytes: d.weightBytes,
    createTime: session.createTime,
    trainable: session.spec !== undefined,
    source: session.source,
    resident: session.model.resident,
  };
}
