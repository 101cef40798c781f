// After `vite build`: put the shipped model's ONNX export, models.json and the CLIP merges into dist/, so the
// built site is complete on any static host. The export is cached in node_modules/.cache between builds.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MNIST_CLASS_NAMES, MNIST_TEMPLATES } from '@qlip/data';
import { defaultModelDir, defaultUnifiedModelDir } from '@qlip/pretrained';
import { addSiteModels, writeClipMerges } from '@qlip/serve';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const models = await addSiteModels(
  dist,
  [
    {
      dir: defaultModelDir(),
      // The prompts the shipped model was trained with.
      zeroShot: {
        labels: [...MNIST_CLASS_NAMES],
        templates: MNIST_TEMPLATES.map((t) => t.replace('{c}', '{}')),
      },
    },
    // The shipped unified model (its tokenizer is the model above): caption and generate panels.
    { dir: defaultUnifiedModelDir(), kind: 'unified' },
  ],
  {
    cacheDir: join(root, 'node_modules', '.cache', 'qlip'),
    onProgress: (e) => e.message && console.error(`[web build] ${e.message}`),
  },
);
await writeClipMerges(join(dist, 'clip-merges.txt'));
console.error(`[web build] ${dist}: page, CLIP merges and ${models.map((m) => m.name).join(', ')}`);
