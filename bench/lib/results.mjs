// Aggregation of per-trial worker results into the figures that the tables, the JSON file and the docs show.

import { readFileSync } from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';

import { CONTENDERS } from './contenders/index.mjs';
import { OPS, SMALL_CALL_OPS, opById } from './ops.mjs';
import { median } from './timing.mjs';

const require = createRequire(import.meta.url);

const PEER_PACKAGES = [
  '@tensorflow/tfjs',
  '@tensorflow/tfjs-backend-wasm',
  'onnxruntime-node',
];

function packageVersion(name) {
  try {
    return require(`${name}/package.json`).version;
  } catch {
    return null;
  }
}

// /proc/cpuinfo carries more than os.cpus(): the family and model numbers identify a CPU whose brand string is
// generic, as it often is under a hypervisor.
function describeCpu() {
  const cpu = { model: os.cpus()[0]?.model ?? 'unknown', logicalCores: os.cpus().length };
  try {
    const text = readFileSync('/proc/cpuinfo', 'utf8');
    const field = (name) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim();
    const flags = new Set((field('flags') ?? '').split(/\s+/));
    cpu.vendor = field('vendor_id') ?? null;
    cpu.family = field('cpu family') ?? null;
    cpu.modelNumber = field('model') ?? null;
    cpu.hypervisor = flags.has('hypervisor');
    cpu.avx2 = flags.has('avx2');
    cpu.avx512f = flags.has('avx512f');
  } catch {
    // Not Linux: os.cpus() is all there is.
  }
  return cpu;
}

/** Collects the facts about the machine and software that the docs page prints above the tables. */
export function collectMeta(simdNnInfo) {
  const peers = {};
  for (const name of PEER_PACKAGES) peers[name] = packageVersion(name);
  return {
    date: new Date().toISOString(),
    cpu: describeCpu(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${process.platform}-${process.arch}`,
    kernel: os.release(),
    node: process.version,
    v8: process.versions.v8,
    simdNn: simdNnInfo,
    peers,
  };
}

function contenderDescriptor(key) {
  const [id, isa] = key.split(':');
  const contender = CONTENDERS.find((candidate) => candidate.id === id);
  return {
    key,
    id,
    isa: isa ?? null,
    label: isa ? `${contender.label} (${isa})` : contender.label,
    shortLabel: isa ? `${contender.shortLabel} ${isa}` : contender.shortLabel,
    peer: contender.peer,
  };
}

function worstError(records, field) {
  let worst = null;
  for (const record of records) {
    const value = record.error?.[field];
    if (value === undefined || value === null) continue;
    if (worst === null || !(value <= worst)) worst = value;
  }
  return worst;
}

// Groups raw records (one per trial, job and size) into one row per table, op, contender and size.
function aggregateTable(records, table, opList) {
  const groups = new Map();
  for (const record of records.filter((candidate) => candidate.table === table)) {
    const id = `${record.op}|${record.key}|${record.size}`;
    if (!groups.has(id)) groups.set(id, []);
    groups.get(id).push(record);
  }
  const rows = [];
  for (const group of groups.values()) {
    const first = group[0];
    const timed = group.filter((record) => typeof record.nsPerCall === 'number');
    const row = {
      op: first.op,
      label: opById(first.op).label,
      key: first.key,
      size: first.size,
      elements: first.elements,
      rows: first.rows,
      classes: first.classes,
    };
    if (timed.length === 0) {
      row.skip = first.skip ?? 'no successful trial';
    } else {
      const trials = timed.map((record) => record.nsPerCall);
      row.trialsNsPerCall = trials;
      row.nsPerCall = median(trials);
      row.nsPerElement = row.nsPerCall / row.elements;
      // Spread of the per-trial medians relative to their median: the run-to-run noise of this figure.
      row.spread = (Math.max(...trials) - Math.min(...trials)) / row.nsPerCall;
      row.maxRelError = worstError(timed, 'maxRelError');
      row.backpropMaxAbsError = worstError(timed, 'backpropMaxAbsError');
    }
    rows.push(row);
  }
  const opOrder = opList.map((op) => op.id);
  const keyOrder = (key) => CONTENDERS.findIndex((contender) => contender.id === key.split(':')[0]);
  rows.sort(
    (a, b) =>
      opOrder.indexOf(a.op) - opOrder.indexOf(b.op) ||
      a.size - b.size ||
      keyOrder(a.key) - keyOrder(b.key) ||
      a.key.localeCompare(b.key),
  );
  return rows;
}

/**
 * Computes, for each op and size, simd-nn's time relative to the copy floor and to the fastest peer. Both
 * ratios are time ratios: below 1 simd-nn is faster, and 0.25 means four times as fast.
 */
export function compare(throughput) {
  const copyBySize = new Map(
    throughput.filter((row) => row.op === 'copy' && row.nsPerElement).map((row) => [row.size, row.nsPerElement]),
  );
  const peerKeys = new Set(CONTENDERS.filter((contender) => contender.peer).map((contender) => contender.id));
  const comparisons = [];
  for (const row of throughput.filter((candidate) => candidate.key === 'simd-nn' && candidate.nsPerElement)) {
    const peers = throughput.filter(
      (candidate) =>
        candidate.op === row.op && candidate.size === row.size && peerKeys.has(candidate.key) && candidate.nsPerElement,
    );
    const best = peers.reduce((fastest, peer) => (!fastest || peer.nsPerElement < fastest.nsPerElement ? peer : fastest), null);
    const copy = copyBySize.get(row.size) ?? null;
    comparisons.push({
      op: row.op,
      size: row.size,
      nsPerElement: row.nsPerElement,
      copyNsPerElement: copy,
      ratioToCopy: copy ? row.nsPerElement / copy : null,
      bestPeer: best?.key ?? null,
      bestPeerNsPerElement: best?.nsPerElement ?? null,
      ratioToBestPeer: best ? row.nsPerElement / best.nsPerElement : null,
    });
  }
  return comparisons;
}

/**
 * Finds, per small-call op, the smallest size from which simd-nn (caller out) beats the plain loop at every
 * larger measured size, or null when it loses at the largest one. Elementwise ops also count the throughput
 * table's sizes, because they continue the same curve.
 */
export function crossovers(small, throughput) {
  const result = [];
  for (const op of SMALL_CALL_OPS) {
    const rows = [...small, ...throughput].filter((row) => row.op === op.id && typeof row.nsPerCall === 'number');
    const sizes = [...new Set(rows.map((row) => row.size))].sort((a, b) => a - b);
    if (sizes.length === 0) continue;
    const timeOf = (key, size) => rows.find((row) => row.key === key && row.size === size)?.nsPerCall;
    let from = null;
    for (let i = sizes.length - 1; i >= 0; i -= 1) {
      const simd = timeOf('simd-nn', sizes[i]);
      const js = timeOf('js', sizes[i]);
      if (simd === undefined || js === undefined || !(simd < js)) break;
      from = sizes[i];
    }
    result.push({ op: op.id, label: op.label, sizes, winsFrom: from });
  }
  return result;
}

/** Builds the JSON document written after a run. */
export function buildResults({ meta, options, records, failures, durationSeconds }) {
  const throughput = aggregateTable(records, 'throughput', [...OPS, opById('copy')]);
  const small = aggregateTable(records, 'small', SMALL_CALL_OPS);
  const keys = [...new Set(records.map((record) => record.key))];
  const contenderOrder = (key) => CONTENDERS.findIndex((contender) => contender.id === key.split(':')[0]);
  keys.sort((a, b) => contenderOrder(a) - contenderOrder(b) || a.localeCompare(b));
  return {
    schema: 1,
    meta,
    options,
    durationSeconds,
    contenders: keys.map(contenderDescriptor),
    comparisons: compare(throughput),
    crossovers: crossovers(small, throughput),
    throughput,
    small,
    failures,
  };
}

/** JSON.stringify replacer that keeps Infinity and NaN (an unbounded or undefined error) as strings. */
export function jsonReplacer(_key, value) {
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return value;
}
