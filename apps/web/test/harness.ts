/**
 * Shared by the browser tests and the speed benchmark: `qlip serve` on 127.0.0.1 at a free port, and Debian's
 * Chromium driven by playwright-core (headless, no network besides loopback, fresh profile).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const CLI = join(REPO, 'apps/cli/bin/run.js');
export const SITE = join(REPO, 'apps/web/dist');

/** Why the browser tests cannot run here, or null when they can. In CI they always run. */
export function browserMissing(): string | null {
  if (existsSync(CHROMIUM)) return null;
  return `Chromium is not installed (${CHROMIUM}): apt-get install -y chromium (Debian package "chromium")`;
}

const run = promisify(execFile);

/** `qlip ARGS --json` -> its parsed stdout. */
export async function qlipJson<T>(args: string[], env: NodeJS.ProcessEnv = {}): Promise<T> {
  const { stdout } = await run(process.execPath, [CLI, ...args, '--json'], {
    env: { ...process.env, CI: '1', ...env },
    maxBuffer: 64 * 2 ** 20,
  });
  return JSON.parse(stdout) as T;
}

export interface Served {
  url: string;
  process: ChildProcess;
  stderr: () => string;
  stop(): Promise<void>;
}

/** Start `qlip serve --port 0 --json ...` and wait for its {url} line. */
export async function startServe(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Served> {
  const child = spawn(
    process.execPath,
    [CLI, 'serve', '--port', '0', '--host', '127.0.0.1', '--json', ...args],
    {
      env: { ...process.env, CI: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const line = out.split('\n')[0];
      if (out.includes('\n')) resolve((JSON.parse(line!) as { url: string }).url);
    });
    child.once('exit', (code) =>
      reject(new Error(`qlip serve exited with ${code} before listening:\n${err}`)),
    );
  });
  return {
    url,
    process: child,
    stderr: () => err,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Browser> {
  const profile = await mkdtemp(join(tmpdir(), 'qlip-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    acceptDownloads: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  return {
    context,
    close: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** The page's status once it is no longer busy/loading ("ready" or "error: ..."). */
export async function settled(page: Page, timeout = 180_000): Promise<string> {
  await page
    .waitForFunction(
      () => /^(ready|error)/.test(document.querySelector('[data-testid=status]')?.textContent ?? ''),
      null,
      { timeout },
    )
    .catch(async (err: Error) => {
      const now = await page.textContent('[data-testid=status]').catch(() => '?');
      throw new Error(`the page did not settle within ${timeout / 1000} s (status "${now}"): ${err.message}`);
    });
  return (await page.textContent('[data-testid=status]')) ?? '';
}

/** Open the page (WebAssembly forced, so results do not depend on a GPU) and wait until the model is ready. */
export async function openPage(browser: Browser, url: string, query = '?ep=wasm'): Promise<Page> {
  const page = await browser.context.newPage();
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  page.on('crash', () => console.error('page crashed'));
  page.on('console', (m) => {
    if (m.type() === 'error') console.error(`page console: ${m.text()}`);
  });
  await page.goto(url + query);
  const status = await settled(page);
  if (status !== 'ready') throw new Error(`page did not become ready: ${status}`);
  return page;
}

/** Give the page image files and wait until it has processed them. */
export async function pickImages(page: Page, files: string[]): Promise<string> {
  // Wait for the change to start processing (status leaves "ready") before waiting for it to settle.
  await page.evaluate(() => {
    document.querySelector('[data-testid=status]')!.textContent = 'busy: picking';
  });
  await page.setInputFiles('input[type=file]', files);
  return settled(page);
}
