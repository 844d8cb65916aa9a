// Translates KServe v2 (Open Inference Protocol) tensors to domain tensors and back. Inputs go
// through modelbay's own wire checks (dtype, shape, byte counts, size limit) by way of a Tensor;
// outputs always travel as raw_output_contents, as Triton sends them.
import type { TensorData, TensorSignature } from "../../compute/tensor-data.js";
import { invalidArgument } from "../../errors.js";
import type {
  InferTensorContents,
  ModelInferRequest_InferInputTensor,
  ModelInferResponse_InferOutputTensor,
} from "../../gen/inference/grpc_predict_v2.js";
import { DataType, type Tensor } from "../../gen/modelbay/v1/tensor.js";
import { type TensorLimits, tensorFromWire } from "../tensor-codec.js";

const FROM_KSERVE: Record<string, DataType> = {
  FP32: DataType.DATA_TYPE_FLOAT32,
  INT32: DataType.DATA_TYPE_INT32,
  BOOL: DataType.DATA_TYPE_BOOL,
  FP64: DataType.DATA_TYPE_FLOAT64,
  INT64: DataType.DATA_TYPE_INT64,
};
const TO_KSERVE: Record<TensorData["dtype"], string> = { float32: "FP32", int32: "INT32", bool: "BOOL" };

export function kserveDatatype(dtype: TensorData["dtype"]): string {
  return TO_KSERVE[dtype];
}

export function tensorMetadata(s: TensorSignature) {
  return { name: s.name, datatype: TO_KSERVE[s.dtype], shape: s.shape };
}

/** One request input as a domain tensor; `raw` is its raw_input_contents entry, if the request has them. */
export function inputFromKserve(
  input: ModelInferRequest_InferInputTensor,
  raw: Uint8Array | undefined,
  field: string,
  limits: TensorLimits,
): TensorData {
  const dtype = FROM_KSERVE[input.datatype];
  if (dtype === undefined) {
    throw invalidArgument(`${field}.datatype`, `"${input.datatype}" is not served (FP32, INT32, BOOL, FP64 or INT64)`);
  }
  const c: Partial<InferTensorContents> = input.contents ?? {};
  if (c.uintContents?.length || c.uint64Contents?.length || c.bytesContents?.length) {
    throw invalidArgument(`${field}.contents`, `${input.datatype} values belong in their own contents field`);
  }
  const tensor: Tensor = {
    name: input.name,
    dtype,
    shape: input.shape,
    floatValues: c.fp32Contents ?? [],
    int32Values: c.intContents ?? [],
    boolValues: c.boolContents ?? [],
    float64Values: c.fp64Contents ?? [],
    int64Values: c.int64Contents ?? [],
    rawContents: raw ?? Buffer.alloc(0),
  };
  return tensorFromWire(tensor, field, limits);
}

/** An output tensor's description and its raw bytes (a view, not a copy). */
export function outputToKserve(
  name: string,
  t: TensorData,
): { output: ModelInferResponse_InferOutputTensor; raw: Buffer } {
  return {
    output: { name, datatype: TO_KSERVE[t.dtype], shape: [...t.shape], parameters: {} },
    raw: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength),
  };
}
