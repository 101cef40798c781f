// Quality benchmark (not a test): evaluate every checkpoint of a `qlip train` run on MNIST and print the
// learning curve as JSON lines: step, training wall time, zero-shot top-1 on the 10,000 test digits (the
// training prompt only), and PSNR/SSIM over 1000 test digits.
//
//   qlip train --preset tiny-mnist --out runs/mnist          # (or any config)
//   node packages/demo/bench/learning-curve.mjs runs/mnist    # after `pnpm build`
//
// The bar for tiny-mnist: zero-shot top-1 >= 90 % and PSNR >= 20 dB within 60 CPU-minutes.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { registerBackendAccelerator, selectBackend } from '@qlip/core';
import { evaluateReconstruction, evaluateZeroShot } from '@qlip/eval';
import { QLIPModel } from '@qlip/model';
import { nativeKernelsAccelerator } from '@qlip/native-kernels';
import { tfjsRuntime } from '@qlip/tokenize';

const run = process.argv[2];
if (!run) throw new Error('usage: node learning-curve.mjs RUN_DIR [--psnr-images N]');
const psnrImages = Number(process.argv[process.argv.indexOf('--psnr-images') + 1]) || 1000;
registerBackendAccelerator(nativeKernelsAccelerator);
await selectBackend('wasm');

// Wall time of training up to each step, from the per-step `seconds` of metrics.jsonl.
const wall = new Map();
let t = 0;
for (const line of readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n')) {
  const m = JSON.parse(line);
  t += m.seconds ?? 0;
  wall.set(m.step, t);
}

const steps = readdirSync(run)
  .filter((d) => /^step-\d+$/.test(d))
  .sort();
for (const dir of steps) {
  const step = Number(dir.slice(5));
  const model = await QLIPModel.load(join(run, dir));
  const rt = tfjsRuntime(model);
  const zs = await evaluateZeroShot(rt, {
    data: 'mnist',
    templates: ['a photo of the number {}.'],
    batchSize: 256,
  });
  const rec = await evaluateReconstruction(rt, { data: 'mnist', limit: psnrImages, batchSize: 128 });
  model.dispose();
  process.stdout.write(
    `${JSON.stringify({
      step,
      trainMinutes: Math.round(((wall.get(step) ?? 0) / 60) * 10) / 10,
      zeroShotTop1: zs.top1,
      psnr: Math.round(rec.psnr * 100) / 100,
      ssim: Math.round(rec.ssim * 1000) / 1000,
      distinctCodes: rec.codebook.distinctCodes,
    })}\n`,
  );
}
