/** Told of every proxied request's end (metrics, access log). */
export interface RequestObserver {
  completed(route: string, status: number, durationMs: number): void;
}
