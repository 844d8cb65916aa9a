// PredictStream: rows inline or from a data file, results streamed back in order by chunk.
import { openRows } from "../datasets/data-root.js";
import { bytesRows, type RowSource, tensorRows } from "../datasets/row-source.js";
import { invalidArgument } from "../errors.js";
import type {
  ModelServiceServer,
  PredictStreamRequest,
  PredictStreamResponse,
} from "../gen/modelbay/v1/model_service.js";
import type { Tensor } from "../gen/modelbay/v1/tensor.js";
import type { HandlerDeps } from "./deps.js";
import { type CallContext, serverStream } from "./grpc-adapters.js";
import { nonFiniteToWire, rawTensorFromWire, type TensorLimits, tensorFromWire, tensorToWire } from "./tensor-codec.js";

export const DEFAULT_CHUNK_ROWS = 4096;
export const MAX_CHUNK_ROWS = 1 << 20;

/**
 * Rows sent in the request. Raw rows stay in the request's buffer and each chunk is copied from
 * there as it is computed; decoding them whole first copied all of them in one event-loop turn
 * (40 MB for a million rows of ten floats).
 */
function inlineRows(t: Tensor, limits: TensorLimits): RowSource {
  const raw = rawTensorFromWire(t, "rows", limits);
  return raw
    ? bytesRows(t.name, raw.dtype, raw.shape, raw.bytes)
    : tensorRows(t.name, tensorFromWire(t, "rows", limits));
}

export function predictStreamHandler(deps: HandlerDeps): Pick<ModelServiceServer, "predictStream"> {
  return {
    predictStream: serverStream(
      "PredictStream",
      deps,
      async function* (req: PredictStreamRequest, ctx: CallContext): AsyncGenerator<PredictStreamResponse> {
        const chunkRows = req.chunkRows || DEFAULT_CHUNK_ROWS;
        if (chunkRows > MAX_CHUNK_ROWS)
          throw invalidArgument("chunk_rows", `${chunkRows} exceeds the maximum of ${MAX_CHUNK_ROWS}`);
        const source = req.source;
        if (!source) throw invalidArgument("source", "set rows or data_path");
        const rows =
          source.$case === "rows"
            ? inlineRows(source.rows, deps.limits)
            : await openRows(deps.dataDir, source.dataPath, "data_path");
        try {
          const chunks = deps.sessions.predictChunks(req.modelId, rows, chunkRows, req.startOffset, ctx.signal);
          for await (const chunk of chunks) {
            yield {
              offset: chunk.offset,
              totalRows: chunk.total,
              outputs: chunk.outputs.map((o) => tensorToWire(o.name, o.tensor, req.rawOutput)),
              nonFinite: chunk.nonFinite && nonFiniteToWire(chunk.nonFinite),
            };
          }
        } finally {
          await rows.close();
        }
      },
    ),
  };
}
