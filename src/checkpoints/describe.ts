// What listings show of a checkpoint: its manifest facts plus the summary in its state.json.
import { summarizeState } from "./checkpoint-codec.js";
import type { CheckpointStore, StoredCheckpoint } from "./checkpoint-store.js";

export interface CheckpointDescription {
  id: string;
  latest: boolean;
  createTime: Date;
  sizeBytes: number;
  fileCount: number;
  fingerprint: string;
  epoch: number;
  step: number;
  metrics: Record<string, number>;
  backend: string;
}

export async function describeCheckpoint(
  store: CheckpointStore,
  modelId: string,
  c: StoredCheckpoint,
  latestId: string | undefined,
): Promise<CheckpointDescription> {
  const summary = summarizeState(await store.readFile(modelId, c.id, "state.json"));
  return {
    id: c.id,
    latest: c.id === latestId,
    createTime: c.createTime,
    sizeBytes: c.manifest.files.reduce((n, f) => n + f.size, 0),
    fileCount: c.manifest.files.length,
    fingerprint: c.manifest.fingerprint,
    epoch: summary.epoch,
    step: summary.step,
    metrics: summary.metrics,
    backend: summary.backend,
  };
}
