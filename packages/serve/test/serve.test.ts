import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '@qlip/core';
import { prepareOnnx } from '@qlip/export';
import { defaultModelDir, defaultUnifiedModelDir } from '@qlip/pretrained';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveWeb, startServer } from '../src/index.js';

let work: string;
let site: string;
let model: string;
let cache: string;

/** A raw GET (fetch would normalise `..` out of the path). */
function get(
  url: string,
  path: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  await selectBackend('auto');
  work = await mkdtemp(join(tmpdir(), 'qlip-serve-test-'));
  site = join(work, 'site');
  await mkdir(site);
  await writeFile(join(site, 'index.html'), '<!doctype html><title>qlip</title>');
  await writeFile(join(site, 'secret-neighbour.txt'), 'x');
  // A copy of the shipped checkpoint without any ONNX export, read-only in spirit: nothing may appear in it.
  model = join(work, 'my-model');
  await cp(defaultModelDir(), model, { recursive: true });
  cache = join(work, 'cache');
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('prepareOnnx', () => {
  it('exports a checkpoint into the cache, never into the model folder, then reuses it', async () => {
    const before = (await readdir(model)).sort();
    const events: string[] = [];
    const first = await prepareOnnx(model, {
      cacheDir: cache,
      onProgress: (e) => e.message && events.push(e.message),
    });
    expect(first.origin).toBe('exported');
    expect(first.dir.startsWith(join(cache, 'onnx', 'my-model-'))).toBe(true);
    expect(first.files).toEqual([
      'qlip-onnx.json',
      'image_encoder.onnx',
      'decoder.onnx',
      'text_encoder.onnx',
    ]);
    expect(events.some((m) => m.startsWith('exporting ONNX graphs'))).toBe(true);
    expect((await readdir(model)).sort()).toEqual(before);
    const again = await prepareOnnx(model, { cacheDir: cache });
    expect(again).toMatchObject({ origin: 'cache', dir: first.dir });
    // An export folder is served as it is.
    expect(await prepareOnnx(first.dir)).toMatchObject({ origin: 'model', dir: first.dir });
  });

  it('names the folder when it is neither a model nor an export', async () => {
    const empty = join(work, 'empty');
    await mkdir(empty);
    await expect(prepareOnnx(empty, { cacheDir: cache })).rejects.toThrow(
      `${empty}: neither an ONNX export (no qlip-onnx.json here or in onnx/) nor a QLIP model folder (no config.json)`,
    );
  });
});

describe('serveWeb', () => {
  it('serves the page and the export with cross-origin isolation, and nothing outside them', async () => {
    const s = await serveWeb({ models: [model], host: '127.0.0.1', port: 0, siteDir: site, cacheDir: cache });
    try {
      expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const page = await get(s.url, '/');
      expect(page.status).toBe(200);
      expect(page.headers['cross-origin-opener-policy']).toBe('same-origin');
      expect(page.headers['cross-origin-embedder-policy']).toBe('require-corp');
      const list = JSON.parse((await get(s.url, '/models.json')).body) as {
        models: { name: string; path: string }[];
      };
      expect(list.models[0]).toMatchObject({ name: 'my-model', path: 'models/m0-my-model/' });
      const manifest = await get(s.url, '/models/m0-my-model/qlip-onnx.json');
      expect(JSON.parse(manifest.body)).toMatchObject({ format: 'qlip-onnx', imageSize: 32 });
      const graph = await get(s.url, '/models/m0-my-model/decoder.onnx');
      expect(graph.status).toBe(200);
      expect(graph.headers['content-type']).toBe('application/octet-stream');
      expect((await get(s.url, '/models/m0-my-model/config.json')).status).toBe(404);
      expect((await get(s.url, '/../my-model/config.json')).status).toBe(404);
      expect((await get(s.url, '/%2e%2e/my-model/config.json')).status).toBe(404);
    } finally {
      await s.close();
    }
  });

  it('serves a unified model (--unified) exported into the cache, never into its folder', async () => {
    const um = join(work, 'my-um');
    await cp(defaultUnifiedModelDir(), um, { recursive: true });
    const before = (await readdir(um)).sort();
    const s = await serveWeb({
      models: [],
      unified: [um],
      host: '127.0.0.1',
      port: 0,
      siteDir: site,
      cacheDir: cache,
    });
    try {
      expect(s.models).toEqual([
        expect.objectContaining({ name: 'my-um', origin: 'exported', kind: 'unified' }),
      ]);
      expect(s.models[0]!.dir.startsWith(join(cache, 'onnx'))).toBe(true);
      expect((await readdir(um)).sort()).toEqual(before);
      const list = JSON.parse((await get(s.url, '/models.json')).body) as { models: unknown[] };
      expect(list.models[0]).toMatchObject({ name: 'my-um', path: 'models/u0-my-um/', kind: 'unified' });
      const manifest = JSON.parse((await get(s.url, '/models/u0-my-um/unified-onnx.json')).body);
      expect(manifest).toMatchObject({ format: 'qlip-unified-onnx', layers: 4 });
      expect((await get(s.url, '/models/u0-my-um/unified_decoder.onnx')).status).toBe(200);
      expect((await get(s.url, '/models/u0-my-um/model.safetensors')).status).toBe(404);
    } finally {
      await s.close();
    }
    const again = await serveWeb({
      models: [],
      unified: [um],
      host: '127.0.0.1',
      port: 0,
      siteDir: site,
      cacheDir: cache,
    });
    await again.close();
    expect(again.models[0]!.origin).toBe('cache');
  });

  it('says when the page is not built and when the port is taken', async () => {
    await expect(
      serveWeb({ models: [], host: '127.0.0.1', port: 0, siteDir: join(work, 'nope') }),
    ).rejects.toThrow(/the web page is not built \(no index\.html\): run "pnpm --filter @qlip\/web build"/);
    const a = await startServer({ siteDir: site, models: [], host: '127.0.0.1', port: 0 });
    try {
      const port = Number(new URL(a.url).port);
      await expect(startServer({ siteDir: site, models: [], host: '127.0.0.1', port })).rejects.toThrow(
        `127.0.0.1:${port} is already in use: pick another --port (0 = any free port)`,
      );
    } finally {
      await a.close();
    }
  });
});
