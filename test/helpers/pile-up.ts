// The order in which Predicts sent one after another behind a slow one are answered. Newest first
// starts once the oldest waiting Predict has used half its deadline, so the scenario gives each a
// deadline of 1.5x the slow predict's time: by the time the device frees up they have waited over
// half of it, and none has expired. This machine's speed drifts by more than that margin between
// runs, so a round whose slow predict ran much faster or slower than the one measured before it
// did not set the scene; it is measured again and repeated (up to three rounds).
import assert from "node:assert/strict";

export interface PileUp {
  /** The slow request that holds the device. */
  slow(): Promise<unknown>;
  /** The i-th small Predict, with a deadline in epoch milliseconds. */
  small(i: number, deadline: number): Promise<unknown>;
  count: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The indices of the small Predicts in the order they were answered. */
export async function answerOrder({ slow, small, count }: PileUp): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    await slow();
    times.push(performance.now() - t0);
  }
  let budgetMs = 1.5 * (times.sort((a, b) => a - b)[1] as number);
  for (let round = 1; ; round++) {
    const started = performance.now();
    const slowMs = slow().then(() => performance.now() - started);
    const answered: number[] = [];
    let expired = 0;
    const queued: Promise<unknown>[] = [];
    let firstSent = 0;
    for (let i = 0; i < count; i++) {
      await sleep(25);
      if (i === 0) firstSent = performance.now() - started;
      queued.push(
        small(i, Date.now() + budgetMs).then(
          () => answered.push(i),
          () => expired++,
        ),
      );
    }
    const sentBy = performance.now() - started;
    await Promise.all(queued);
    const took = await slowMs;
    assert.ok(took > sentBy + 50, `the slow request took ${took.toFixed(0)} ms: done before all were queued`);
    // The oldest had used this share of its deadline when the device freed up.
    const used = (took - firstSent) / budgetMs;
    if ((used > 0.55 && expired === 0) || round === 3) {
      assert.equal(expired, 0, `${expired} Predicts expired (the slow request took ${took.toFixed(0)} ms)`);
      assert.ok(used > 0.5, `the oldest had used only ${(used * 100).toFixed(0)}% of its deadline`);
      return answered;
    }
    budgetMs = 1.5 * took;
  }
}
