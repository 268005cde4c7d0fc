// Timing loop run inside a worker process: warm-up, batch calibration and timed samples.

/**
 * Time budgets, in milliseconds unless named otherwise. A sample times `batch` back-to-back calls, with the batch
 * sized so that one sample lasts about `sampleMs`. Sampling stops once `minSamples` samples and `measureMs` have
 * both been reached, or once `maxMs` has passed with at least `floorSamples` samples (for calls slower than
 * maxMs / minSamples), or at `maxSamples`.
 */
export const BUDGETS = {
  full: {
    warmupMs: 100,
    minWarmupCalls: 1,
    sampleMs: 10,
    minSamples: 7,
    floorSamples: 3,
    measureMs: 300,
    maxMs: 4000,
    maxSamples: 200,
  },
  quick: {
    warmupMs: 30,
    minWarmupCalls: 1,
    sampleMs: 2,
    minSamples: 3,
    floorSamples: 2,
    measureMs: 40,
    maxMs: 300,
    maxSamples: 50,
  },
  small: {
    warmupMs: 150,
    minWarmupCalls: 1000,
    sampleMs: 5,
    minSamples: 15,
    floorSamples: 5,
    measureMs: 300,
    maxMs: 2000,
    maxSamples: 200,
  },
  smallQuick: {
    warmupMs: 30,
    minWarmupCalls: 200,
    sampleMs: 2,
    minSamples: 5,
    floorSamples: 3,
    measureMs: 30,
    maxMs: 200,
    maxSamples: 50,
  },
};

const now = () => process.hrtime.bigint();

async function timeBatch(run, isAsync, batch) {
  const start = now();
  if (isAsync) {
    for (let i = 0; i < batch; i += 1) await run();
  } else {
    for (let i = 0; i < batch; i += 1) run();
  }
  return Number(now() - start);
}

/** Returns the median of a non-empty list of numbers. */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * Times `run` (a function returning nothing, or a promise when `isAsync`) and returns the nanoseconds per call of
 * every sample, the batch size and the warm-up call count.
 */
export async function measure(run, isAsync, budget) {
  const warmupStart = now();
  const warmupLimit = BigInt(Math.round(budget.warmupMs * 1e6));
  let warmupCalls = 0;
  let lastCallNs = Infinity;
  while (warmupCalls < budget.minWarmupCalls || now() - warmupStart < warmupLimit) {
    lastCallNs = await timeBatch(run, isAsync, 1);
    warmupCalls += 1;
  }

  // Size the batch from a short calibration batch, because a single call of a few hundred nanoseconds is too
  // close to the timer's own cost to measure.
  let batch = 1;
  if (lastCallNs < budget.sampleMs * 1e6) {
    const probe = Math.max(1, Math.min(1e6, Math.floor((budget.sampleMs * 1e6) / 10 / Math.max(lastCallNs, 1))));
    const probeNs = Math.max(await timeBatch(run, isAsync, probe), 1);
    batch = Math.max(1, Math.round(((budget.sampleMs * 1e6) / probeNs) * probe));
  }

  const samples = [];
  const sampleStart = now();
  for (;;) {
    samples.push((await timeBatch(run, isAsync, batch)) / batch);
    const elapsedMs = Number(now() - sampleStart) / 1e6;
    if (samples.length >= budget.maxSamples) break;
    if (samples.length >= budget.minSamples && elapsedMs >= budget.measureMs) break;
    if (samples.length >= budget.floorSamples && elapsedMs >= budget.maxMs) break;
  }
  return { samples, batch, warmupCalls };
}
