// A hand-written SVG chart: one panel per op, ns per element against size on log-log axes, one line per
// contender and the copy floor as a dashed reference line.

import { OPS } from './ops.mjs';
import { formatSize } from './tables.mjs';

const PANEL_WIDTH = 300;
const PANEL_HEIGHT = 230;
const COLUMNS = 4;
const PLOT = { left: 52, right: 12, top: 34, bottom: 36 };
const TITLE_HEIGHT = 40;

// Line styles by contender. The simd-nn variants share blue hues, most other colours come from Okabe and Ito's
// palette for colour-vision deficiencies, and each extra instruction set gets its own dash pattern.
const STYLES = {
  'simd-nn': { colour: '#0b4f9c', width: 2.5 },
  'simd-nn-alloc': { colour: '#7fc6f0', width: 1.5 },
  js: { colour: '#009E73', width: 1.5 },
  'tfjs-cpu': { colour: '#E69F00', width: 1.5 },
  'tfjs-wasm': { colour: '#8B5A2B', width: 1.5 },
  'ort-1t': { colour: '#CC79A7', width: 1.5 },
  'ort-2t': { colour: '#D55E00', width: 1.5 },
  copy: { colour: '#777777', width: 1.5, dash: '5 4' },
};
const ISA_DASHES = ['8 3', '2 3', '8 3 2 3'];

function escapeXml(text) {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function niceNumber(value) {
  if (value >= 1) return String(value);
  return String(Number(value.toPrecision(1)));
}

function seriesFor(results, opId, key) {
  return results.throughput
    .filter((row) => row.op === opId && row.key === key && row.nsPerElement)
    .map((row) => ({ size: row.size, value: row.nsPerElement }));
}

// Draws one op's panel with its origin at (x0, y0) and returns the SVG elements.
function renderPanel(op, sizes, series, x0, y0) {
  const plotWidth = PANEL_WIDTH - PLOT.left - PLOT.right;
  const plotHeight = PANEL_HEIGHT - PLOT.top - PLOT.bottom;
  const values = series.flatMap((line) => line.points.map((point) => point.value));
  if (values.length === 0) return '';

  const low = Math.floor(Math.log10(Math.min(...values)));
  const high = Math.max(low + 1, Math.ceil(Math.log10(Math.max(...values))));
  const logSizes = sizes.map(Math.log2);
  const minX = logSizes[0];
  const spanX = Math.max(logSizes[logSizes.length - 1] - minX, 1);
  const x = (size) => x0 + PLOT.left + ((Math.log2(size) - minX) / spanX) * plotWidth;
  const y = (value) => y0 + PLOT.top + (1 - (Math.log10(value) - low) / (high - low)) * plotHeight;

  const parts = [];
  parts.push(`<text x="${x0 + 10}" y="${y0 + 18}" class="panel-title">${escapeXml(op.label)}</text>`);
  parts.push(
    `<rect x="${x0 + PLOT.left}" y="${y0 + PLOT.top}" width="${plotWidth}" height="${plotHeight}" class="plot"/>`,
  );
  for (let exponent = low; exponent <= high; exponent += 1) {
    const value = 10 ** exponent;
    const gridY = y(value).toFixed(1);
    parts.push(`<line x1="${x0 + PLOT.left}" x2="${x0 + PLOT.left + plotWidth}" y1="${gridY}" y2="${gridY}" class="grid"/>`);
    parts.push(`<text x="${x0 + PLOT.left - 6}" y="${gridY}" class="tick" text-anchor="end" dominant-baseline="middle">${niceNumber(value)}</text>`);
  }
  for (const size of sizes) {
    const gridX = x(size).toFixed(1);
    parts.push(`<line x1="${gridX}" x2="${gridX}" y1="${y0 + PLOT.top}" y2="${y0 + PLOT.top + plotHeight}" class="grid"/>`);
    parts.push(`<text x="${gridX}" y="${y0 + PLOT.top + plotHeight + 16}" class="tick" text-anchor="middle">${formatSize(size)}</text>`);
  }

  for (const line of series) {
    if (line.points.length === 0) continue;
    const path = line.points.map((point) => `${x(point.size).toFixed(1)},${y(point.value).toFixed(1)}`).join(' ');
    const dash = line.dash ? ` stroke-dasharray="${line.dash}"` : '';
    parts.push(`<polyline points="${path}" fill="none" stroke="${line.colour}" stroke-width="${line.width}"${dash}/>`);
    if (line.markers) {
      for (const point of line.points) {
        parts.push(`<circle cx="${x(point.size).toFixed(1)}" cy="${y(point.value).toFixed(1)}" r="2.5" fill="${line.colour}"/>`);
      }
    }
  }
  return parts.join('\n');
}

function renderLegend(entries, x0, y0) {
  const parts = [`<text x="${x0 + 12}" y="${y0 + 18}" class="panel-title">ns per element (log) by size</text>`];
  entries.forEach((entry, index) => {
    const rowY = y0 + 42 + index * 18;
    const dash = entry.dash ? ` stroke-dasharray="${entry.dash}"` : '';
    parts.push(`<line x1="${x0 + 12}" x2="${x0 + 40}" y1="${rowY}" y2="${rowY}" stroke="${entry.colour}" stroke-width="${entry.width}"${dash}/>`);
    parts.push(`<text x="${x0 + 48}" y="${rowY}" class="legend" dominant-baseline="middle">${escapeXml(entry.label)}</text>`);
  });
  return parts.join('\n');
}

/** Renders the results' throughput figures as a standalone SVG document. */
export function renderChart(results) {
  const sizes = [...new Set(results.throughput.map((row) => row.size))].sort((a, b) => a - b);
  const contenders = results.contenders.filter((contender) => results.throughput.some((row) => row.key === contender.key));
  let extraIsaCount = 0;
  const styled = contenders.map((contender) => {
    if (contender.isa) {
      const dash = ISA_DASHES[extraIsaCount % ISA_DASHES.length];
      extraIsaCount += 1;
      return { key: contender.key, label: contender.label, ...STYLES['simd-nn'], width: 1.5, dash, markers: true };
    }
    return { key: contender.key, label: contender.label, ...STYLES[contender.id], markers: contender.id !== 'copy' };
  });

  const ops = OPS.filter((op) => results.throughput.some((row) => row.op === op.id));
  const slots = ops.length + 1;
  const rows = Math.ceil(slots / COLUMNS);
  const width = COLUMNS * PANEL_WIDTH;
  const height = TITLE_HEIGHT + rows * PANEL_HEIGHT;

  const panels = ops.map((op, index) => {
    const series = styled.map((style) => ({
      ...style,
      points: seriesFor(results, style.key === 'copy' ? 'copy' : op.id, style.key),
    }));
    const x0 = (index % COLUMNS) * PANEL_WIDTH;
    const y0 = TITLE_HEIGHT + Math.floor(index / COLUMNS) * PANEL_HEIGHT;
    return renderPanel(op, sizes, series, x0, y0);
  });
  const legendX = (ops.length % COLUMNS) * PANEL_WIDTH;
  const legendY = TITLE_HEIGHT + Math.floor(ops.length / COLUMNS) * PANEL_HEIGHT;

  const info = results.meta.simdNn;
  const title = `simd-nn ${info.version} (${info.isa}), Node ${results.meta.node}, ${results.meta.cpu.model}, ${results.meta.date.slice(0, 10)}: median ns per element, lower is better`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">
<style>
.title { font-size: 15px; font-weight: bold; fill: #222; }
.panel-title { font-size: 12px; font-weight: bold; fill: #222; }
.tick { font-size: 10px; fill: #555; }
.legend { font-size: 11px; fill: #222; }
.plot { fill: #fcfcfc; stroke: #bbb; }
.grid { stroke: #e3e3e3; stroke-width: 1; }
</style>
<rect width="${width}" height="${height}" fill="#ffffff"/>
<text x="12" y="26" class="title">${escapeXml(title)}</text>
${panels.join('\n')}
${renderLegend(styled, legendX, legendY)}
</svg>
`;
}
