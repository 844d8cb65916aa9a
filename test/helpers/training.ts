import type { ModelbayClient } from "../../src/cli/client.js";
import type { TrainEvent, TrainRequest } from "../../src/gen/modelbay/v1/training.js";
import { floatTensor, seededFloats } from "./tensors.js";

/** A regression dataset for the 10-input classic model: y = a fixed linear map of x plus a sine. */
export function regressionData(rows: number, seed = 3): { x: Float32Array; y: Float32Array } {
  const x = seededFloats(rows * 10, seed);
  const y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < 10; j++) s += (j % 2 ? 0.5 : -1) * (x[r * 10 + j] as number);
    y[r] = s + Math.sin(3 * (x[r * 10] as number));
  }
  return { x, y };
}

export function trainRequest(modelId: string, rows: number, overrides: Partial<TrainRequest> = {}): TrainRequest {
  const { x, y } = regressionData(rows);
  return {
    modelId,
    data: {
      source: { $case: "inline", inline: { x: floatTensor(x, [rows, 10], true), y: floatTensor(y, [rows, 1], true) } },
    },
    validationSplit: 0,
    epochs: 2,
    batchSize: 32,
    shuffle: true,
    seed: 5,
    progressIntervalMs: 0,
    detach: false,
    ...overrides,
  };
}

export async function collect(client: ModelbayClient, req: TrainRequest): Promise<TrainEvent[]> {
  const events: TrainEvent[] = [];
  for await (const e of client.train(req)) events.push(e);
  return events;
}

export const ofKind = <K extends NonNullable<TrainEvent["event"]>["$case"]>(events: TrainEvent[], kind: K) =>
  events.flatMap((e) =>
    e.event?.$case === kind ? [e.event as Extract<NonNullable<TrainEvent["event"]>, { $case: K }>] : [],
  );
