import { selectBackend } from '@qlip/core';
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { variableGradsFreeing } from '../src/backward.js';
import { activationHeavyMlp } from './helpers.js';

// Its own file, so this is the first gradient computation of a fresh engine: tfjs creates the engine's
// activeTape on first use, and a check for it once sent every process's first step to tfjs's own pass.
it("frees memory on a process's first gradient computation too", async () => {
  await selectBackend('wasm');
  const mlp = activationHeavyMlp('first');
  const ours = await mlp.peak(variableGradsFreeing as typeof tf.variableGrads); // first: before tfjs's own pass
  const stock = await mlp.peak(tf.variableGrads);
  expect(ours).toBeLessThan(stock * 0.6);
  mlp.dispose();
});
