// One benchmark job in a fresh process: one contender, one op, a list of sizes. The orchestrator (run.mjs)
// starts it with child_process.fork and the job as JSON in argv[2]; results go back over the IPC channel, one
// message per size, so that a crash at a large size keeps the smaller sizes' results.

import { contenderById } from './lib/contenders/index.mjs';
import { makeData, measureError, opById, reference } from './lib/ops.mjs';
import { BUDGETS, measure, median } from './lib/timing.mjs';

function send(message) {
  return new Promise((resolve, reject) => {
    process.send(message, (error) => (error ? reject(error) : resolve()));
  });
}

async function runJob(job) {
  const contender = await contenderById(job.contender).create({ module: job.module });
  await send({ type: 'ready', simdNnInfo: contender.info ?? null });

  const op = opById(job.op);
  const budget = BUDGETS[job.budget];
  for (const size of job.sizes) {
    const data = makeData(op, size);
    const shape = { size, elements: data.elements, rows: data.rows, classes: data.classes };
    if (data.elements === 0) {
      await send({ type: 'result', ...shape, skip: `no whole row of ${data.classes} classes fits in ${size}` });
      continue;
    }
    const prepared = await contender.prepare(op, data);
    if (prepared.skip) {
      await send({ type: 'result', ...shape, skip: prepared.skip });
      continue;
    }

    const timing = await measure(prepared.run, Boolean(prepared.isAsync), budget);
    let error = null;
    if (job.checkError && op.kind !== 'copy') {
      error = measureError(op, reference(op, data), prepared.outputs());
    }
    await send({
      type: 'result',
      ...shape,
      nsPerCall: median(timing.samples),
      samples: timing.samples.length,
      batch: timing.batch,
      warmupCalls: timing.warmupCalls,
      error,
    });
  }
}

const job = JSON.parse(process.argv[2]);
try {
  await runJob(job);
  await send({ type: 'done' });
  process.exit(0);
} catch (error) {
  await send({ type: 'failed', message: error?.stack ?? String(error) });
  process.exit(1);
}
