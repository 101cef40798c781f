import { join, relative } from 'node:path';
import { listImages, type ProgressListener } from '@qlip/core';
import { MNIST_CLASS_NAMES } from '@qlip/data';
import { markdownTable } from '@qlip/eval';
import { captionFiles, generate, loadUnified, writeGenerated } from '@qlip/unified';

export interface UnifiedDemo {
  model: string;
  /** One grid per digit prompt. */
  grids: { prompt: string; file: string }[];
  captions: { path: string; caption: string }[];
  imagesPerSecond: number;
}

/**
 * The unified half of the demo (kept small: 8 samples per digit, 16 captions): `qlip generate` for
 * "a photo of the number <digit>." and `qlip caption` on test digits, through the same library calls.
 */
export async function unifiedDemo(
  out: string,
  images: string,
  onProgress: ProgressListener,
): Promise<UnifiedDemo> {
  const p = await loadUnified();
  try {
    const dir = join(out, 'unified');
    const grids: UnifiedDemo['grids'] = [];
    let seconds = 0;
    for (const [i, name] of MNIST_CLASS_NAMES.entries()) {
      const prompt = `a photo of the number ${name}.`;
      const g = await generate(p, prompt, { n: 8, seed: i, guidance: 3, temperature: 1, topK: 0 });
      seconds += g.seconds;
      const files = await writeGenerated(join(dir, name), 'sample', g, p.model.config.image_grid);
      grids.push({ prompt, file: files.find((f) => f.endsWith('-grid.png'))! });
      onProgress({ task: 'demo', done: i + 1, total: 10, unit: 'prompts', message: `generated "${prompt}"` });
    }
    const files = (await listImages(images)).filter((_, i) => i % 20 === 0).slice(0, 10);
    const captions = await captionFiles(
      p,
      files.map((f) => join(images, f)),
    );
    return { model: p.dir, grids, captions, imagesPerSecond: 80 / seconds };
  } finally {
    p.dispose();
  }
}

/** The README section of the unified demo. */
export function unifiedSummary(out: string, u: UnifiedDemo): string {
  const rel = (f: string) => relative(out, f);
  return `
## Unified model: text -> image and image -> text

Model: \`${u.model}\` (one causal transformer over CLIP BPE text and QLIP tokens; see docs/unified.md).
\`qlip generate "a photo of the number 7" --n 8 --out DIR\`, 8 samples per prompt, guidance 3:

${markdownTable(
  ['prompt', 'samples'],
  u.grids.map((g) => [g.prompt, `![${g.prompt}](${rel(g.file)})`]),
)}

\`qlip caption\` on test digits (greedy):

${markdownTable(
  ['image', 'caption'],
  u.captions.map((c) => [`![](${rel(c.path)})`, c.caption]),
)}
`;
}
