// The contender registry. Each entry's `create(options)` resolves to an object whose `prepare(op, data)` returns
// `{ run, outputs, isAsync? }` for one op and size, or `{ skip: reason }` when the contender has no such op.
// Modules are imported lazily so that a worker process loads only its own contender's libraries.

/** Contender descriptors in table order. `peer` marks the alternatives that simd-nn is compared with. */
export const CONTENDERS = [
  {
    id: 'simd-nn',
    label: 'simd-nn, caller out',
    shortLabel: 'simd-nn',
    peer: false,
    create: async (options) => (await import('./simd-nn.mjs')).createContender({ ...options, allocate: false }),
  },
  {
    id: 'simd-nn-alloc',
    label: 'simd-nn, allocating',
    shortLabel: 'alloc',
    peer: false,
    create: async (options) => (await import('./simd-nn.mjs')).createContender({ ...options, allocate: true }),
  },
  {
    id: 'js',
    label: 'plain JS loop',
    shortLabel: 'JS loop',
    peer: true,
    create: async () => (await import('./js-loop.mjs')).createContender(),
  },
  {
    id: 'tfjs-cpu',
    label: 'tfjs, CPU backend',
    shortLabel: 'tfjs cpu',
    peer: true,
    create: async () => (await import('./tfjs.mjs')).createContender({ backend: 'cpu' }),
  },
  {
    id: 'tfjs-wasm',
    label: 'tfjs, wasm backend',
    shortLabel: 'tfjs wasm',
    peer: true,
    create: async () => (await import('./tfjs.mjs')).createContender({ backend: 'wasm' }),
  },
  {
    id: 'ort-1t',
    label: 'onnxruntime-node, 1 thread',
    shortLabel: 'ORT 1t',
    peer: true,
    create: async () => (await import('./onnxruntime.mjs')).createContender({ threads: 1 }),
  },
  {
    id: 'ort-2t',
    label: 'onnxruntime-node, 2 threads',
    shortLabel: 'ORT 2t',
    peer: true,
    create: async () => (await import('./onnxruntime.mjs')).createContender({ threads: 2 }),
  },
  {
    id: 'copy',
    label: 'copy floor (TypedArray set)',
    shortLabel: 'copy',
    peer: false,
    create: async () => (await import('./copy.mjs')).createContender(),
  },
];

/** Finds a contender descriptor by id. */
export function contenderById(id) {
  const contender = CONTENDERS.find((candidate) => candidate.id === id);
  if (!contender) {
    const known = CONTENDERS.map((candidate) => candidate.id).join(', ');
    throw new Error(`Unknown contender "${id}". Known contenders: ${known}.`);
  }
  return contender;
}
