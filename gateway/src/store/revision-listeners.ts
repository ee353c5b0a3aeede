/**
 * Who wants to hear of new revisions, and which revision they last heard: the part of `watch`
 * every adapter shares. Each adapter only decides how it learns of a change (file watch and
 * polling, change streams) and calls `tell` with what it read.
 */
export class RevisionListeners {
  private readonly listeners = new Set<(revision: number) => void>();
  private lastTold = -1;

  /** Add a listener; the first one starts the adapter's watching (`onFirst`). Returns the unsubscribe. */
  add(listener: (revision: number) => void, onFirst: () => void): () => void {
    const first = this.listeners.size === 0;
    this.listeners.add(listener);
    if (first) onFirst();
    return () => {
      this.listeners.delete(listener);
    };
  }

  get size(): number {
    return this.listeners.size;
  }

  /** Tell every listener of `revision`, once per distinct revision. */
  tell(revision: number): void {
    if (revision === this.lastTold) return;
    this.lastTold = revision;
    for (const listener of this.listeners) listener(revision);
  }

  clear(): void {
    this.listeners.clear();
  }
}
