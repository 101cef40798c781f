// Training speed of a bundled preset: `node scripts/bench-steps.mjs <preset> <steps> [backend]` after
// `pnpm run build`. Prints one JSON line: steps/s and images/s over the steps after the first (warm-up).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerBackendAccelerator, selectBackend } from '@qlip/core';
import { nativeKernelsAccelerator } from '@qlip/native-kernels';
import { presetLayer, resolveTrainConfig, train } from '../dist/index.js';

const [preset = 'tiny-mnist', steps = '10', backend = 'wasm'] = process.argv.slice(2);
registerBackendAccelerator(nativeKernelsAccelerator);
const info = await selectBackend(backend);
const config = resolveTrainConfig([
  presetLayer(preset),
  { source: 'bench', values: { steps: Number(steps), checkpoint: { every: 1_000_000 } } },
]);
const out = await mkdtemp(join(tmpdir(), 'qlip-bench-'));
const r = await train(config, {
  out,
  onProgress: (e) => {
    if (e.unit === 'steps') process.stderr.write(`step ${e.done}: ${JSON.stringify(e.metrics)}\n`);
  },
});
await rm(out, { recursive: true, force: true });
console.log(
  JSON.stringify({
    preset,
    backend: `${info.name} (${info.detail})`,
    batch: config.data.batchSize * config.optimizer.gradAccum,
    steps: r.step,
    parameters: r.parameters,
    stepsPerSecond: r.stepsPerSecond,
    imagesPerSecond: r.imagesPerSecond,
    lastStepSeconds: r.last?.seconds,
  }),
);
