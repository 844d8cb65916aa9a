// Pipelining shared by the streams that pull work out of a device (PredictStream's chunks, a
// checkpoint's tensor slices): keep a few items in flight ahead of the consumer, hand them over in
// order, and give each item a buffer from a small ring that is reused once the consumer has moved on.

/**
 * Yields `produce(i, slot)` for i = 0 .. count-1 in order, with up to `ahead` items started before
 * the consumer asks for them. `slot` is a shared buffer of `slotBytes` from a ring of ahead + 1: the
 * item yielded last still holds its slot while `ahead` more are in flight, and a slot is refilled
 * only once the consumer has asked past its item. Once `stop` is aborted no new item starts. Items
 * in flight are awaited before the generator finishes, however it ends. `allocate` makes each slot's
 * memory (plain shared memory unless the caller needs more, e.g. page-aligned).
 */
export async function* readAhead<T>(
  count: number,
  ahead: number,
  slotBytes: number,
  produce: (index: number, slot: Uint8Array) => Promise<T>,
  stop?: AbortSignal,
  allocate: (bytes: number) => SharedArrayBuffer = (bytes) => new SharedArrayBuffer(bytes),
): AsyncGenerator<T> {
  const ring = Array.from({ length: Math.min(ahead + 1, count) }, () => new Uint8Array(allocate(slotBytes)));
  const pending: Promise<T>[] = [];
  let next = 0;
  const refill = () => {
    while (pending.length < ahead && next < count && !stop?.aborted) {
      const item = produce(next, ring[next % ring.length] as Uint8Array);
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
