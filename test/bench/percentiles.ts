/** Nearest-rank percentile of an ascending array (`quantile` in 0..1); 0 for no samples. */
export function percentile(sorted: ArrayLike<number>, quantile: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(quantile * sorted.length) - 1))]!;
}

export function median(values: number[]): number {
  return percentile(Float64Array.from(values).sort(), 0.5);
}
