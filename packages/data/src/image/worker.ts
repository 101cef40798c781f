import { parentPort } from 'node:worker_threads';
import { Rng } from '@qlip/core';
import { type PreprocessJob, preprocessSampleImage } from './transform.js';

/**
 * Worker-thread entry: preprocess jobs posted by {@link PreprocessPool}. The pixels go back as a
 * transferred buffer; errors go back as their message so the pipeline can count a `corrupt` skip.
 */
const port = parentPort;
if (!port) throw new Error('@qlip/data preprocess worker: must run in a worker thread');
port.on('message', async (msg: { id: number; job: PreprocessJob }) => {
  const { id, job } = msg;
  try {
    const rng = job.augmentSeed === null ? null : new Rng(job.augmentSeed);
    const pixels = await preprocessSampleImage(job.input, job.size, job.augment, rng, job.name);
    port.postMessage({ id, pixels }, [pixels.buffer as ArrayBuffer]);
  } catch (e) {
    port.postMessage({ id, error: e instanceof Error ? e.message : String(e) });
  }
});
