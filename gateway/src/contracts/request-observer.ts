/** Told of every proxied request's end (metrics, access log). */
export interface RequestObserver {
  completed(route: string, status: number, durationMs: number): void;
  /** A request left `from` for the route's next fallback pool `to` (switchboard_fallbacks_total). */
  fellBack?(route: string, from: string, to: string): void;
}
