import type { ModelbayClient } from "../../src/cli/client.js";
import { regressionData } from "../../src/cli/example-data.js";
import type { CheckpointPolicy, TrainEvent, TrainRequest } from "../../src/gen/modelbay/v1/training.js";
import { floatTensor, inlineXY } from "./tensors.js";

export { regressionData };

/** A checkpoint policy with only the given triggers set (e.g. `{ everyEpochs: 1 }`). */
export function checkpointPolicy(triggers: Partial<CheckpointPolicy>): CheckpointPolicy {
  return { everyEpochs: 0, everySteps: 0, everySeconds: 0, onBest: false, monitor: "", ...triggers };
}

export function trainRequest(modelId: string, rows: number, overrides: Partial<TrainRequest> = {}): TrainRequest {
  const { x, y } = regressionData(rows);
  return {
    modelId,
    data: inlineXY(floatTensor(x, [rows, 10], true), floatTensor(y, [rows, 1], true)),
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
