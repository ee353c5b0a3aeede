/**
 * Cooperative slicing for compiling a large revision next to the one serving: work runs in
 * slices of at most `budgetMs`, and between two slices the event loop serves the requests that
 * arrived meanwhile (setImmediate runs after pending I/O). A fixed count of items per slice
 * does not bound the stall: the same 500 router insertions took 60 ms on a quiet machine and
 * 600 ms on a loaded one; a clock does.
 */
export class TimeSlicer {
  private sliceStart = performance.now();

  constructor(private readonly budgetMs = 10) {}

  /** A promise to await when this slice has used its budget; undefined (go on) otherwise. */
  due(): Promise<void> | undefined {
    if (performance.now() - this.sliceStart < this.budgetMs) return undefined;
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        this.sliceStart = performance.now();
        resolve();
      }),
    );
  }
}
