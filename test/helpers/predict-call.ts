// A Predict as a raw gRPC call, which the caller can cancel or give a deadline (the promise-based
// client cannot).
import * as grpc from "@grpc/grpc-js";
import type { ModelbayClient } from "../../src/cli/client.js";
import type { PredictRequest, PredictResponse } from "../../src/gen/modelbay/v1/model_service.js";

export function startPredict(
  client: ModelbayClient,
  request: PredictRequest,
  options: Partial<grpc.CallOptions>,
  done: (err: grpc.ServiceError | null, response?: PredictResponse) => void,
): grpc.ClientUnaryCall {
  return client.raw.predict(request, new grpc.Metadata(), options, done);
}
