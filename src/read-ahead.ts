// Pipelining shared by the streams that pull work out of a device (PredictStream's chunks, a
// checkpoint's tensor slices): keep a few items in flight ahead of the consumer, hand them over in
// order, and give each item a buffer from a small ring that is reused once the consumer has moved on.

/**
 * Yields `produce(i, slot)` for i = 0 .. count-1 in order, with up to `ahead` items started before
 * the consumer asks for them. `slot` (i modulo ahead + 1) names a buffer of a ring of ahead + 1: the
 * item yielded last still holds its slot while `ahead` more are in flight. Once `stop` is aborted no
 * new item starts. Items in flight are awaited before the generator finishes, however it ends.
 */
export async function* readAhead<T>(
  count: number,
  ahead: number,
  produce: (index: number, slot: number) => Promise<T>,
  stop?: AbortSignal,
): AsyncGenerator<T> {
  const slots = ahead + 1;
  const pending: Promise<T>[] = [];
  let next = 0;
  const refill = () => {
    while (pending.length < ahead && next < count && !stop?.aborted) {
      const item = produce(next, next % slots);
      // Settled later (or by the finally below); never an unhandled rejection meanwhile.
      item.catch(() => undefined);
      pending.push(item);
      next++;
    }
  };
  try {
    refill();
    while (pending.length > 0) {
      stop?.throwIfAborted();
      const item = await (pending.shift() as Promise<T>);
      // The consumer took the previous item, so its slot may be refilled now.
      refill();
      yield item;
    }
  } finally {
    await Promise.allSettled(pending);
  }
}

/** `count` shared buffers of `bytes` each, for the slots of readAhead. */
export function sharedRing(count: number, bytes: number): Uint8Array[] {
  return Array.from({ length: count }, () => new Uint8Array(new SharedArrayBuffer(bytes)));
}
