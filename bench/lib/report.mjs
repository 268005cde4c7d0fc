// The console report printed after a run.

import {
  copyFloor,
  crossoverSentence,
  errorRows,
  formatSize,
  formatTime,
  smallCallRows,
  sizesOf,
  textTable,
  throughputRows,
} from './tables.mjs';

/** Renders the console report: one throughput table per size, the small-call table and the crossovers. */
export function renderConsole(results) {
  const parts = [];
  const info = results.meta.simdNn;
  parts.push(
    `simd-nn ${info.version}, default ISA ${info.isa}; ${results.meta.cpu.model}, Node ${results.meta.node}; ` +
      `${results.options.trials} trial(s), ${results.durationSeconds} s`,
  );
  for (const size of sizesOf(results.throughput)) {
    const { header, rows } = throughputRows(results, size);
    const copy = copyFloor(results, size);
    parts.push(`\nMedian ns per element at ${formatSize(size)} (copy floor ${formatTime(copy)} ns per element)`);
    parts.push(textTable(header, rows));
  }
  if (results.small.length > 0) {
    const { header, rows } = smallCallRows(results);
    parts.push('\nSmall calls, median ns per call');
    parts.push(textTable(header, rows));
    for (const crossover of results.crossovers) parts.push(`  ${crossoverSentence(crossover)}`);
  }
  const errors = errorRows(results);
  parts.push('\nMax relative error against float64 (backprop variants: loss / max absolute error of the gradient)');
  parts.push(textTable(errors.header, errors.rows));
  if (results.failures.length > 0) {
    parts.push(`\n${results.failures.length} job(s) failed:`);
    for (const failure of results.failures) {
      parts.push(`  trial ${failure.trial + 1} ${failure.key} ${failure.op}: ${failure.message.split('\n')[0]}`);
    }
  }
  return `${parts.join('\n')}\n`;
}
