// Values by integer id, for requests in flight between the server's thread and a device worker.
//
// A plain object, not a Map: a Map that grows and shrinks as requests come and go replaces its
// hash table each time, and V8 links every replaced table to its successor (for iterators still
// walking it). The young-generation collector cannot tell that an old, replaced table is dead, so
// the new table and every request it holds stayed alive through each scavenge and were promoted,
// and the next table after them too. Under 64 callers that was every Predict's objects: ~2.2 MB
// promoted per scavenge and 8-10 ms pauses of the RPC thread, against ~0.2 MB and 2-3.5 ms with
// this table (`node --trace-gc-nvp`, ghz at 64 callers).
export class IdTable<V> {
  private entries: Record<number, V> = Object.create(null);
  private count = 0;

  get size(): number {
    return this.count;
  }

  has(id: number): boolean {
    return id in this.entries;
  }

  get(id: number): V | undefined {
    return this.entries[id];
  }

  set(id: number, value: V): void {
    if (!(id in this.entries)) this.count++;
    this.entries[id] = value;
  }

  /** Removes id's value and returns it; undefined if there was none. */
  take(id: number): V | undefined {
    if (!(id in this.entries)) return undefined;
    const value = this.entries[id];
    delete this.entries[id];
    this.count--;
    return value;
  }

  values(): V[] {
    return Object.values(this.entries);
  }

  clear(): void {
    this.entries = Object.create(null);
    this.count = 0;
  }
}
