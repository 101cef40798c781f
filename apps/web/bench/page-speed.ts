/**
 * The page's tokenize speed (images/s in Chromium, WebAssembly provider) beside the CLI's, measured in the
 * same run on the same MNIST digits. `pnpm --filter @qlip/web bench`.
 * Env: QLIP_BENCH_IMAGES (default 256); QLIP_WEB_SCREENSHOT=1 also retakes the README's screenshot
 * (apps/web/docs/screenshot.png): a plain bench run writes nothing into the repository.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeMnistFolder } from '@qlip/demo';
import {
  browserMissing,
  launchBrowser,
  openPage,
  pickImages,
  qlipJson,
  REPO,
  startServe,
} from '../test/harness.js';

const missing = browserMissing();
if (missing) throw new Error(missing);
const n = Number(process.env.QLIP_BENCH_IMAGES ?? 256);
const work = await mkdtemp(join(tmpdir(), 'qlip-web-bench-'));
const dir = join(work, 'digits');
await writeMnistFolder(dir, n);
const files = (await readdir(dir, { recursive: true }))
  .filter((f) => f.endsWith('.png'))
  .map((f) => join(dir, f))
  .sort();

const cli = await qlipJson<{ imagesPerSecond: number; tokenized: number; runtime: string }>([
  'tokenize',
  dir,
  '--out',
  join(work, 'tokens'),
]);

const served = await startServe();
const browser = await launchBrowser();
try {
  const page = await openPage(browser, served.url);
  const provider = await page.textContent('[data-testid=provider]');
  const runs: number[] = [];
  for (let r = 0; r < 3; r++) {
    const status = await pickImages(page, files);
    if (status !== 'ready') throw new Error(status);
    runs.push(Number(await page.getAttribute('[data-testid=speed]', 'data-images-per-second')));
  }
  const best = Math.max(...runs);
  if (process.env.QLIP_WEB_SCREENSHOT === '1') {
    // The README's screenshot: one digit, a hovered token.
    await page.setViewportSize({ width: 1180, height: 1000 });
    await pickImages(page, [files.find((f) => f.includes('seven')) ?? files[0]!]);
    await page.hover('[data-testid=token-grid] div:nth-child(6)');
    await page.screenshot({ path: join(REPO, 'apps/web/docs/screenshot.png'), fullPage: true });
  }
  const result = {
    images: files.length,
    page: { provider, imagesPerSecond: +best.toFixed(1), runs: runs.map((x) => +x.toFixed(1)) },
    cli: { runtime: `qlip tokenize (${cli.runtime})`, imagesPerSecond: +cli.imagesPerSecond.toFixed(1) },
    pageOverCli: +(best / cli.imagesPerSecond).toFixed(2),
  };
  console.log(JSON.stringify(result, null, 2));
} finally {
  await browser.close();
  await served.stop();
  await rm(work, { recursive: true, force: true });
}
