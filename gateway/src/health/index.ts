import type { UpstreamRegistry } from '../balancer/upstream-registry.js';
import { HealthChecker, type HealthCheckerOptions } from './active-checker.js';
import { OutlierDetection } from './outlier-detector.js';

export { HealthChecker, type HealthCheckerOptions } from './active-checker.js';
export { OutlierDetection, OutlierDetector } from './outlier-detector.js';
export { healthReport, type TargetHealth } from './health-report.js';

/**
 * Everything server startup needs: active checks and outlier detection for every pool the
 * registry holds now and builds on later reloads. Call once, before the first `apply/plan`
 * commit or after — existing pools are picked up either way; `close()` on shutdown.
 */
export function attachHealth(registry: UpstreamRegistry, options: HealthCheckerOptions = {}) {
  const checker = new HealthChecker(options).attach(registry);
  const outliers = new OutlierDetection().attach(registry);
  return {
    checker,
    outliers,
    close(): void {
      checker.close();
      outliers.close();
    },
  };
}
