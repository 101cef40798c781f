/**
 * The page in a real browser (Debian's Chromium via playwright-core) against `qlip serve`: its token indices
 * equal `qlip tokenize`'s exactly, its reconstruction equals `qlip reconstruct`'s within 1/255, its zero-shot
 * ranking equals the library's and its predictions `qlip eval zero-shot`'s; bad input gives a clear status.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { clipPreprocessParams, preprocessImage, readNpy, selectBackend } from '@qlip/core';
import { MNIST_CLASS_NAMES } from '@qlip/data';
import { cosineScores, ensemblePrompts, fillTemplates } from '@qlip/eval';
import { QLIPModel } from '@qlip/model';
import { defaultModelDir } from '@qlip/pretrained';
import { ClipBpe } from '@qlip/text-encoder';
import { tfjsRuntime } from '@qlip/tokenize';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Browser,
  browserMissing,
  launchBrowser,
  openPage,
  pickImages,
  qlipJson,
  type Served,
  SITE,
  settled,
  startServe,
} from './harness.js';

const missing = browserMissing();
if (missing && process.env.CI) throw new Error(missing);
if (missing) console.warn(`skipping the browser tests: ${missing}`);

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;
const TEMPLATE = 'a photo of the number {}.';
/** One seeded generation, run by `qlip generate` and by the page (non-default guidance, top-k, seed). */
const GEN = {
  prompt: 'a photo of the number four.',
  flags: ['--n', '3', '--seed', '7', '--guidance', '2.5', '--top-k', '40', '--temperature', '0.9'],
  fields: { seed: '7', guidance: '2.5', 'top-k': '40', temperature: '0.9', count: '3' },
};

let work: string;
let images: string[]; // every image both the page and the CLI see, sorted as the CLI lists them
let served: Served;
let browser: Browser;
let page: Page;

/** Test images: MNIST digits (grey PNG, upscaled 28 -> 32), an RGBA emoji (downscaled, alpha dropped), a
 *  non-square JPEG and a 16-bit PNG, so every decode and resample path is compared. */
async function makeImages(dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const digits = ['one/00002.png', 'seven/00000.png', 'seven/00017.png', 'three/00018.png'];
  const out: string[] = [];
  for (const d of digits) {
    const to = join(dir, `digit-${d.replace('/', '-')}`);
    await copyFile(join(FIXTURES, 'digits', d), to);
    out.push(to);
  }
  const face = join(FIXTURES, 'grinning-face.png');
  await copyFile(face, join(dir, 'emoji-rgba.png'));
  await sharp(face)
    .flatten({ background: '#3070c0' })
    .resize(50, 40, { fit: 'fill' })
    .jpeg({ quality: 90 })
    .toFile(join(dir, 'photo.jpg'));
  await sharp(join(FIXTURES, 'digits/three/00018.png'))
    .resize(40, 30, { fit: 'fill' })
    .toColourspace('rgb16')
    .png()
    .toFile(join(dir, 'wide-16bit.png'));
  out.push(join(dir, 'emoji-rgba.png'), join(dir, 'photo.jpg'), join(dir, 'wide-16bit.png'));
  return out.sort();
}

describe.skipIf(missing !== null)('the qlip page in Chromium', () => {
  let cliTokens: Map<string, number[][]>;
  let cliRecon: string;
  let cliCaptions: { path: string; caption: string }[];

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'qlip-web-test-'));
    images = await makeImages(join(work, 'images'));
    // The CLI's answers, and the server, while the browser starts.
    const digits = images.filter((f) => basename(f).startsWith('digit-'));
    const [tok, , caps, , srv, br] = await Promise.all([
      qlipJson<{ tokenized: number }>(['tokenize', join(work, 'images'), '--out', join(work, 'tokens')]),
      qlipJson(['reconstruct', join(work, 'images'), '--out', join(work, 'recon')]),
      qlipJson<{ captions: { path: string; caption: string }[] }>(['caption', ...digits]),
      qlipJson(['generate', GEN.prompt, ...GEN.flags, '--out', join(work, 'generated')]),
      startServe(),
      launchBrowser(),
    ]);
    expect(tok.tokenized).toBe(images.length);
    cliCaptions = caps.captions;
    served = srv;
    browser = br;
    const index = (await readFile(join(work, 'tokens/parts/00000/index.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { path: string; shard: number; row: number });
    const shard = await readNpy(join(work, 'tokens/parts/00000/tokens.npy')); // [n, 4, 4] uint32
    const [, h, w] = shard.shape as [number, number, number];
    cliTokens = new Map(
      index.map((e) => [
        e.path,
        Array.from({ length: h }, (_, r) =>
          Array.from(shard.data.slice(e.row * h * w + r * w, e.row * h * w + (r + 1) * w), Number),
        ),
      ]),
    );
    cliRecon = join(work, 'recon');
    page = await openPage(browser, served.url);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await served?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('shows the provider and serves with cross-origin isolation', async () => {
    expect(await page.textContent('[data-testid=provider]')).toMatch(
      /WebAssembly SIMD, \d+ threads? \(cross-origin isolated\)/,
    );
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
  });

  it("gives each image the CLI's token indices exactly and its reconstruction within 1/255", async () => {
    for (const file of images) {
      expect(await pickImages(page, [file])).toBe('ready');
      const tokens = JSON.parse((await page.textContent('[data-testid=tokens]'))!) as number[][];
      expect(tokens, basename(file)).toEqual(cliTokens.get(basename(file)));

      const src = (await page.getAttribute('[data-testid=reconstruction]', 'src'))!;
      const ours = await sharp(Buffer.from(src.split(',')[1]!, 'base64'))
        .removeAlpha()
        .raw()
        .toBuffer();
      const cliPng = join(cliRecon, basename(file).replace(/\.[^.]+$/, '.png'));
      const theirs = await sharp(cliPng).removeAlpha().raw().toBuffer();
      expect(ours.length).toBe(theirs.length);
      let maxDiff = 0;
      for (let i = 0; i < ours.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ours[i]! - theirs[i]!));
      expect(maxDiff, basename(file)).toBeLessThanOrEqual(1);
    }
  });

  it('downloads the .npy of several images byte for byte as qlip tokenize writes it', async () => {
    expect(await pickImages(page, images)).toBe('ready');
    expect(await page.getAttribute('[data-testid=speed]', 'data-images-per-second')).toMatch(/^\d/);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('[data-testid=download-npy]'),
    ]);
    const bytes = await readFile((await download.path())!);
    expect(bytes.equals(await readFile(join(work, 'tokens/parts/00000/tokens.npy')))).toBe(true);
  });

  it("ranks the labels as the library's zero-shot does", async () => {
    await selectBackend('auto');
    const model = await QLIPModel.load(defaultModelDir());
    const rt = tfjsRuntime(model);
    const digits = images.filter((f) => basename(f).startsWith('digit-'));
    try {
      const labels = [...MNIST_CLASS_NAMES];
      const prompts = labels.flatMap((l) => fillTemplates(l, [TEMPLATE]));
      const text = await rt.textEmbeddings(ClipBpe.default().tokenize(prompts, rt.contextLength));
      const dim = text.length / labels.length;
      const classes = ensemblePrompts({ data: text, rows: labels.length, cols: dim }, labels.length);
      await page.fill('[data-testid=labels]', labels.join('\n'));
      await page.fill('[data-testid=templates]', TEMPLATE);
      for (const file of digits) {
        expect(await pickImages(page, [file])).toBe('ready');
        const shown = await page.$$eval('[data-testid=zero-shot] li', (li) =>
          li.map((l) => [l.dataset.label!, Number(l.dataset.probability)] as const),
        );
        const pixels = await preprocessImage(file, clipPreprocessParams(rt.imageSize));
        const img = await rt.imageEmbeddings(pixels, 1);
        const scores = cosineScores({ data: img, rows: 1, cols: dim }, classes).data;
        const ranking = labels
          .map((l, i) => [l, scores[i]!] as const)
          .sort((a, b) => b[1] - a[1])
          .map(([l]) => l);
        expect(
          shown.map(([l]) => l),
          basename(file),
        ).toEqual(ranking);
        expect(shown.reduce((sum, [, p]) => sum + p, 0)).toBeCloseTo(1, 5);
      }
    } finally {
      model.dispose();
    }
  });

  it('predicts what qlip eval zero-shot predicts on a class-folder tree', async () => {
    const classes = ['one', 'seven', 'three'];
    const tmpl = join(work, 'template.txt');
    await writeFile(tmpl, `${TEMPLATE}\n`);
    const cli = await qlipJson<{ classes: string[]; confusion: number[][] }>([
      'eval',
      'zero-shot',
      '--data',
      join(FIXTURES, 'digits'),
      '--templates',
      tmpl,
    ]);
    expect(cli.classes).toEqual(classes);
    await page.fill('[data-testid=labels]', classes.join('\n'));
    await page.fill('[data-testid=templates]', TEMPLATE);
    const confusion = classes.map(() => classes.map(() => 0));
    for (const [truth, name] of classes.entries()) {
      for (const file of images.filter((f) => basename(f).startsWith(`digit-${name}-`))) {
        expect(await pickImages(page, [file])).toBe('ready');
        const top = await page.getAttribute('[data-testid=zero-shot] li', 'data-label');
        confusion[truth]![classes.indexOf(top!)]! += 1;
      }
    }
    expect(confusion).toEqual(cli.confusion);
  });

  it("captions each digit as qlip caption does (greedy, the unified model's ONNX graphs)", async () => {
    expect(cliCaptions.length).toBeGreaterThanOrEqual(4);
    for (const { path, caption } of cliCaptions) {
      expect(await pickImages(page, [path])).toBe('ready');
      expect(caption).toMatch(/number/);
      expect(await page.textContent('[data-testid=caption]'), basename(path)).toBe(caption);
    }
  });

  it("generates qlip generate's token grids for the same seed, decoded as images", async () => {
    await page.fill('[data-testid=prompt]', GEN.prompt);
    for (const [id, v] of Object.entries(GEN.fields)) await page.fill(`[data-testid=${id}]`, v);
    await page.evaluate(() => {
      document.querySelector('[data-testid=status]')!.textContent = 'busy: clicking';
    });
    await page.click('[data-testid=generate]');
    expect(await settled(page)).toBe('ready');
    const grids = JSON.parse((await page.getAttribute('[data-testid=generated]', 'data-tokens'))!);
    const cli = await readNpy(join(work, 'generated/sample-tokens.npy')); // [3, 4, 4] uint32
    const [n, h, w] = cli.shape as [number, number, number];
    const expected = Array.from({ length: n }, (_, i) =>
      Array.from({ length: h }, (_, r) =>
        Array.from(cli.data.slice(i * h * w + r * w, i * h * w + (r + 1) * w), Number),
      ),
    );
    expect(grids).toEqual(expected);
    expect(await page.locator('[data-testid=generated] img').count()).toBe(n);
    expect(await page.getAttribute('[data-testid=generate-speed]', 'data-tokens-per-second')).toMatch(/^\d/);
  });

  it('says what is wrong with a text file and with a huge image', async () => {
    const text = join(work, 'notes.txt');
    await writeFile(text, 'these are not pixels\n');
    expect(await pickImages(page, [text])).toMatch(
      /^error: notes\.txt is not an image the page can read \(expected PNG, JPEG/,
    );
    const huge = join(work, 'huge.png');
    await sharp({ create: { width: 8000, height: 6000, channels: 3, background: '#808080' } })
      .png({ compressionLevel: 1 })
      .toFile(huge);
    expect(await pickImages(page, [huge])).toMatch(
      /^error: huge\.png is 8000x6000 \(48\.0 megapixels\), over the limit/,
    );
    // The page still works afterwards, also when the same file is picked twice in a row.
    expect(await pickImages(page, [images[0]!])).toBe('ready');
    expect(await pickImages(page, [images[0]!])).toBe('ready');
  });

  it('says a picked model folder has no ONNX export, then loads a real export folder', async () => {
    const noOnnx = join(work, 'model-without-onnx');
    await mkdir(noOnnx);
    await copyFile(join(defaultModelDir(), 'config.json'), join(noOnnx, 'config.json'));
    const pick = async (dir: string) => {
      const [chooser] = await Promise.all([
        page.waitForEvent('filechooser'),
        page.click('[data-testid=open-model]'),
      ]);
      await page.evaluate(() => {
        document.querySelector('[data-testid=status]')!.textContent = 'busy: picking';
      });
      await chooser.setFiles(dir);
      return settled(page);
    };
    expect(await pick(noOnnx)).toMatch(
      /^error: model-without-onnx\/: no qlip-onnx\.json found; this model folder has no ONNX export/,
    );
    expect(await pick(join(SITE, 'models/qlip-tiny-mnist'))).toBe('ready');
    expect(await page.textContent('[data-testid=model-info]')).toMatch(/32 px, 4x4 tokens of 16 bits/);
  });

  it('says so when the page is pointed at a folder without an export', async () => {
    const p = await browser.context.newPage();
    await p.goto(`${served.url}?ep=wasm&model=/no-such-export/`);
    expect(await settled(p)).toMatch(/^error: \/no-such-export\/: no qlip-onnx\.json found/);
    await p.close();
  });
});
