// PredictStream: rows inline or from a data file, results streamed back in order by chunk.
import { openRows } from "../datasets/data-root.js";
import { tensorRows } from "../datasets/row-source.js";
import { invalidArgument } from "../errors.js";
import type {
  ModelServiceServer,
  PredictStreamRequest,
  PredictStreamResponse,
} from "../gen/modelbay/v1/model_service.js";
import type { HandlerDeps } from "./deps.js";
import { type CallContext, serverStream } from "./grpc-adapters.js";
import { nonFiniteToWire, tensorFromWire, tensorToWire } from "./tensor-codec.js";

export const DEFAULT_CHUNK_ROWS = 4096;
export const MAX_CHUNK_ROWS = 1 << 20;

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
            ? tensorRows(source.rows.name, tensorFromWire(source.rows, "rows", deps.limits))
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
