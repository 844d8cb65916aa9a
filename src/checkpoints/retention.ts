// Retention: which checkpoints a model keeps. A pure choice over summaries, so it is easy to test;
// the store applies it.

export interface RetentionPolicy {
  keepLast: number;
  keepBest: number;
  bestMetric: string;
  keepEveryHours: number;
}

export interface RetentionCandidate {
  id: string;
  createTime: Date;
  metrics: Record<string, number>;
}

export const keepsEverything = (p: RetentionPolicy) => p.keepLast === 0 && p.keepBest === 0 && p.keepEveryHours === 0;

/** Ids to delete. `candidates` are newest first; `protectedIds` (latest, being read) always stay. */
export function checkpointsToDelete(
  candidates: readonly RetentionCandidate[],
  policy: RetentionPolicy,
  protectedIds: ReadonlySet<string>,
): string[] {
  if (keepsEverything(policy)) return [];
  const keep = new Set(protectedIds);
  for (const c of candidates.slice(0, policy.keepLast)) keep.add(c.id);
  if (policy.keepBest > 0) {
    const metric = policy.bestMetric || "val_loss";
    const ranked = candidates
      .filter((c) => Number.isFinite(c.metrics[metric]))
      .sort((a, b) => (a.metrics[metric] as number) - (b.metrics[metric] as number));
    for (const c of ranked.slice(0, policy.keepBest)) keep.add(c.id);
  }
  if (policy.keepEveryHours > 0) {
    const windowMs = policy.keepEveryHours * 3_600_000;
    const oldestFirst = [...candidates].sort((a, b) => a.createTime.getTime() - b.createTime.getTime());
    const start = oldestFirst[0]?.createTime.getTime() ?? 0;
    const seenWindows = new Set<number>();
    for (const c of oldestFirst) {
      const w = Math.floor((c.createTime.getTime() - start) / windowMs);
      if (!seenWindows.has(w)) {
        seenWindows.add(w);
        keep.add(c.id);
      }
    }
  }
  return candidates.filter((c) => !keep.has(c.id)).map((c) => c.id);
}
