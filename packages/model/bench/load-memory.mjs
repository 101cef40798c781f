// Memory benchmark (not part of the test suite): can a QLIP-B-16-256-sized checkpoint (about 240M
// parameters, about 1 GB of float32) be loaded without needing more than about twice its size in RAM?
//
//   node bench/load-memory.mjs [--keep DIR]     (after `pnpm build`; prints one JSON object)
//
// 1. Writes a random checkpoint of that shape to a temp folder (tensor by tensor: the generator itself never
//    holds the model).
// 2. Loads it in a fresh child process with QLIPModel.load on the wasm backend, and reports the child's peak
//    RSS, its RSS before loading (Node + tfjs + wasm), and the ratios to the weights file size.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const mode = process.argv[2];

/** The released QLIP-B-16-256 geometry (EVA02-B vision tower and decoder, CLIP-B text tower, 28 bits). */
export const B16_CONFIG = {
  projection_dim: 512,
  vision_config: {
    image_size: 256,
    patch_size: 16,
    hidden_size: 768,
    intermediate_size: 2048,
    num_attention_heads: 12,
    num_hidden_layers: 12,
    swiglu: true,
    subln: true,
    rope: true,
    quantizer: 'bsq',
    quantizer_embed_type: 'mlp',
    quantizer_l2_norm: true,
    hidden_size_post_q: 768,
    quantizer_cfg: { embed_dim: 28, group_size: 7, l2_norm: true, inv_temperature: 100, input_format: 'blc' },
  },
  decoder_config: {
    image_size: 256,
    patch_size: 16,
    hidden_size: 768,
    intermediate_size: 2048,
    num_attention_heads: 12,
    num_hidden_layers: 12,
    swiglu: true,
    subln: true,
    rope: true,
  },
  text_config: { hidden_size: 512, intermediate_size: 2048, num_attention_heads: 8, num_hidden_layers: 12 },
};

if (mode === '--child-load') {
  const { selectBackend } = await import('@qlip/core');
  const { QLIPModel } = await import('@qlip/model');
  await selectBackend('wasm');
  const before = process.memoryUsage().rss;
  const t0 = performance.now();
  const model = await QLIPModel.load(process.argv[3]);
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(
    JSON.stringify({
      parameters: model.parameterCount(),
      seconds,
      rssBeforeLoad: before,
      peakRss: process.resourceUsage().maxRSS * 1024,
      rssAfterLoad: process.memoryUsage().rss,
    }),
  );
} else {
  const { Rng, writeSafetensors } = await import('@qlip/core');
  const { parseQLIPConfig, qlipSpecs } = await import('@qlip/model');
  const keep = mode === '--keep' ? process.argv[3] : undefined;
  const dir = keep ?? mkdtempSync(join(tmpdir(), 'qlip-b16-'));
  const config = parseQLIPConfig(B16_CONFIG, 'B-16 bench config');
  const rng = new Rng(0);
  const tensors = new Map(
    qlipSpecs(config).map((s) => [
      s.name,
      {
        dtype: 'F32',
        shape: s.shape,
        data: async () => {
          const n = s.shape.reduce((a, b) => a * b, 1);
          const a = new Float32Array(n);
          for (let i = 0; i < n; i++) a[i] = (rng.next() - 0.5) * 0.04;
          return a;
        },
      },
    ]),
  );
  const t0 = performance.now();
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  await writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  const writeSeconds = (performance.now() - t0) / 1000;
  const fileBytes = statSync(join(dir, 'model.safetensors')).size;
  const child = JSON.parse(
    execFileSync(process.execPath, [join(here, 'load-memory.mjs'), '--child-load', dir], {
      encoding: 'utf8',
      maxBuffer: 1 << 20,
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  if (!keep) rmSync(dir, { recursive: true, force: true });
  const gib = (b) => Math.round((b / 2 ** 30) * 1000) / 1000;
  process.stdout.write(
    `${JSON.stringify(
      {
        what: 'QLIPModel.load of a random QLIP-B-16-256-shaped checkpoint (wasm backend)',
        parameters: child.parameters,
        weightsFileGiB: gib(fileBytes),
        writeSeconds,
        loadSeconds: child.seconds,
        rssBeforeLoadGiB: gib(child.rssBeforeLoad),
        peakRssGiB: gib(child.peakRss),
        rssAfterLoadGiB: gib(child.rssAfterLoad),
        peakOverFile: Math.round((child.peakRss / fileBytes) * 100) / 100,
        peakAboveBaselineOverFile:
          Math.round(((child.peakRss - child.rssBeforeLoad) / fileBytes) * 100) / 100,
      },
      null,
      2,
    )}\n`,
  );
}
