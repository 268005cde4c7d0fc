// Formatting and table building shared by the console report and the docs page.

import { OPS, SMALL_CALL_OPS } from './ops.mjs';
import { median } from './timing.mjs';

/** Formats an element count: 1024 as 1K, 1048576 as 1M, anything else as a plain number. */
export function formatSize(size) {
  if (size >= 1048576 && size % 1048576 === 0) return `${size / 1048576}M`;
  if (size >= 1024 && size % 1024 === 0) return `${size / 1024}K`;
  return String(size);
}

export function formatTime(value) {
  if (value === null || value === undefined) return '–';
  if (value >= 100) return String(Math.round(value));
  if (value >= 0.001) return value.toPrecision(3);
  return value.toExponential(1);
}

export function formatRatio(value) {
  if (value === null || value === undefined) return '–';
  return value >= 10 ? value.toPrecision(3) : value.toFixed(2);
}

export function formatError(value) {
  if (value === null || value === undefined) return '–';
  if (typeof value === 'string') return value === 'Infinity' ? 'inf' : value;
  if (value === 0) return '0';
  return value.toExponential(1);
}

export function formatPercent(value) {
  return `${Math.round(value * 100)}%`;
}

// Lays out rows of cells as a fixed-width text table; the first column is left-aligned, the rest right-aligned.
export function textTable(header, rows) {
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => row[column].length)));
  const line = (cells) =>
    cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

export function markdownTable(header, rows) {
  const align = header.map((_, column) => (column === 0 ? '---' : '---:'));
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(align), ...rows.map(line)].join('\n');
}

export function sizesOf(rows) {
  return [...new Set(rows.map((row) => row.size))].sort((a, b) => a - b);
}

export function findRow(rows, op, key, size) {
  return rows.find((row) => row.op === op && row.key === key && row.size === size);
}

export function contendersIn(results, table, exclude = []) {
  const keys = new Set(results[table].map((row) => row.key));
  return results.contenders.filter((contender) => keys.has(contender.key) && !exclude.includes(contender.key));
}

export function peerLabel(results, key) {
  return results.contenders.find((contender) => contender.key === key)?.shortLabel ?? key;
}

export function copyFloor(results, size) {
  return findRow(results.throughput, 'copy', 'copy', size)?.nsPerElement ?? null;
}

// Rows (op by contender, ns per element) of the throughput table at one size, with the two ratios at the end.
export function throughputRows(results, size) {
  const contenders = contendersIn(results, 'throughput', ['copy']);
  const header = ['op', ...contenders.map((contender) => contender.shortLabel), '× copy', '× best peer'];
  const rows = [];
  for (const op of OPS) {
    if (!results.throughput.some((row) => row.op === op.id && row.size === size)) continue;
    const comparison = results.comparisons.find((candidate) => candidate.op === op.id && candidate.size === size);
    const bestPeer = comparison?.bestPeer
      ? `${formatRatio(comparison.ratioToBestPeer)} (${peerLabel(results, comparison.bestPeer)})`
      : '–';
    rows.push([
      op.label,
      ...contenders.map((contender) => formatTime(findRow(results.throughput, op.id, contender.key, size)?.nsPerElement)),
      formatRatio(comparison?.ratioToCopy),
      bestPeer,
    ]);
  }
  return { header, rows };
}

// Rows of the small-call table: per op and contender, the ns per call at each size.
export function smallCallRows(results) {
  const contenders = contendersIn(results, 'small');
  const sizes = sizesOf(results.small);
  const header = ['op', 'contender', ...sizes.map((size) => `n = ${size}`)];
  const rows = [];
  for (const op of SMALL_CALL_OPS) {
    if (!results.small.some((row) => row.op === op.id)) continue;
    for (const contender of contenders) {
      if (!results.small.some((row) => row.op === op.id && row.key === contender.key && row.nsPerCall)) continue;
      rows.push([
        op.label,
        contender.shortLabel,
        ...sizes.map((size) => formatTime(findRow(results.small, op.id, contender.key, size)?.nsPerCall)),
      ]);
    }
  }
  return { header, rows };
}

// Rows of the accuracy table: the worst relative error of each contender over all sizes.
export function errorRows(results) {
  const contenders = contendersIn(results, 'throughput', ['copy']);
  const header = ['op', ...contenders.map((contender) => contender.shortLabel)];
  const rows = [];
  for (const op of OPS) {
    const opRows = results.throughput.filter((row) => row.op === op.id);
    if (opRows.length === 0) continue;
    rows.push([
      op.label,
      ...contenders.map((contender) => {
        const own = opRows.filter((row) => row.key === contender.key);
        const primary = worst(own.map((row) => row.maxRelError));
        if (!op.backprop) return formatError(primary);
        return `${formatError(primary)} / ${formatError(worst(own.map((row) => row.backpropMaxAbsError)))}`;
      }),
    ]);
  }
  return { header, rows };
}

function worst(values) {
  let result = null;
  for (const value of values) {
    if (value === null || value === undefined) continue;
    if (value === 'Infinity' || value === 'NaN' || result === 'Infinity') {
      result = 'Infinity';
    } else if (result === null || value > result) {
      result = value;
    }
  }
  return result;
}

export function crossoverSentence(crossover) {
  const largest = formatSize(crossover.sizes[crossover.sizes.length - 1]);
  if (crossover.winsFrom === null) {
    return `${crossover.label}: the plain loop is faster at n = ${largest}, the largest size timed.`;
  }
  if (crossover.winsFrom === crossover.sizes[0]) {
    return `${crossover.label}: simd-nn is faster at every size timed (n = ${crossover.sizes[0]} to ${largest}).`;
  }
  if (formatSize(crossover.winsFrom) === largest) {
    return `${crossover.label}: simd-nn is faster only at n = ${largest}, the largest size timed.`;
  }
  return `${crossover.label}: simd-nn is faster from n = ${formatSize(crossover.winsFrom)} up to ${largest}, the largest size timed.`;
}

// Summarises the spread of the per-trial medians over all throughput figures, with the three noisiest figures.
export function noiseFigures(results) {
  const rows = results.throughput.filter((row) => typeof row.spread === 'number' && row.trialsNsPerCall.length > 1);
  if (rows.length === 0) return null;
  const spreads = rows.map((row) => row.spread);
  const noisiest = [...rows].sort((a, b) => b.spread - a.spread).slice(0, 3);
  return { median: median(spreads), max: Math.max(...spreads), count: spreads.length, noisiest };
}
