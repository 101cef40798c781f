import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireOutputLock } from '@qlip/core';
import { defaultModelDir } from '@qlip/pretrained';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  downloadModel,
  hubIdFromCachePath,
  hubSettings,
  licenseNotice,
  parseHubId,
  parseModelCard,
  repoCacheDir,
  resolveModel,
} from '../src/index.js';
import { type LocalHub, serveLocalHub } from '../src/local-hub.js';

const REPO = 'nvidia-test/qlip-tiny';
const root = mkdtempSync(join(tmpdir(), 'qlip-hub-'));
const sha256 = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
let cacheN = 0;
const freshCache = () => join(root, `cache-${cacheN++}`);

/** Revision 0: the shipped model with an NVIDIA-like card; revision 1 (main): a changed config. */
function makeRevisions() {
  const v0 = join(root, 'v0');
  cpSync(defaultModelDir(), v0, { recursive: true });
  // As NVIDIA's cards say: non-commercial weights.
  const card = readFileSync(join(v0, 'README.md'), 'utf8').replace(/^license: .*$/m, 'license: cc-by-nc-4.0');
  writeFileSync(join(v0, 'README.md'), card);
  writeFileSync(join(v0, 'pytorch_model.bin'), 'not downloaded');
  const v1 = join(root, 'v1');
  cpSync(v0, v1, { recursive: true });
  const config = JSON.parse(readFileSync(join(v1, 'config.json'), 'utf8'));
  writeFileSync(join(v1, 'config.json'), JSON.stringify({ ...config, note: 'v1' }, null, 2));
  const sharded = join(root, 'sharded');
  mkdirSync(sharded);
  writeFileSync(join(sharded, 'config.json'), '{}');
  writeFileSync(join(sharded, 'model-00001-of-00002.safetensors'), Buffer.alloc(3000, 1));
  writeFileSync(join(sharded, 'model-00002-of-00002.safetensors'), Buffer.alloc(2000, 2));
  writeFileSync(
    join(sharded, 'model.safetensors.index.json'),
    JSON.stringify({
      metadata: { total_size: 5000 },
      weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' },
    }),
  );
  return { v0, v1, sharded };
}

let hub: LocalHub;
let dirs: ReturnType<typeof makeRevisions>;
beforeAll(async () => {
  dirs = makeRevisions();
  hub = await serveLocalHub({
    repos: {
      [REPO]: { revisions: [{ dir: dirs.v0, refs: ['v0.1'] }, { dir: dirs.v1 }] },
      'acme/private-qlip': { revisions: [{ dir: dirs.v1 }], token: 'hf_secret' },
      'acme/sharded': { revisions: [{ dir: dirs.sharded }] },
    },
  });
});
afterAll(async () => {
  await hub.close();
  rmSync(root, { recursive: true, force: true });
});

describe('hub ids', () => {
  it('parses org/name[@revision] and rejects paths', () => {
    expect(parseHubId('nvidia/QLIP-B-16-256')).toEqual({ repo: 'nvidia/QLIP-B-16-256' });
    expect(parseHubId('nvidia/QLIP-B-16-256@v1.0')).toEqual({
      repo: 'nvidia/QLIP-B-16-256',
      revision: 'v1.0',
    });
    for (const bad of ['./x/y', '/abs/path', 'a/b/c', 'runs', '../a/b', 'a/..'])
      expect(parseHubId(bad)).toBeNull();
  });

  it('turns a cache snapshot path back into a pinned hub id', () => {
    const c = 'b'.repeat(40);
    expect(hubIdFromCachePath(`/h/hub/models--nvidia--QLIP-B-16-256/snapshots/${c}`)).toBe(
      `nvidia/QLIP-B-16-256@${c}`,
    );
    expect(hubIdFromCachePath('/work/runs/step-000100')).toBeNull();
  });

  it('reads the cache location and settings from the environment as huggingface_hub does', () => {
    expect(hubSettings({}, { HOME: '/h', HF_HOME: '/hf' }).cacheDir).toBe('/hf/hub');
    expect(hubSettings({}, { HF_HOME: '/hf', HF_HUB_CACHE: '/c' }).cacheDir).toBe('/c');
    expect(hubSettings({}, { XDG_CACHE_HOME: '/x' }).cacheDir).toBe('/x/huggingface/hub');
    const s = hubSettings(
      {},
      { HF_HUB_OFFLINE: '1', HF_ENDPOINT: 'http://h:1/', HF_TOKEN: 'hf_a', HF_HOME: '/hf' },
    );
    expect(s).toEqual({ endpoint: 'http://h:1', token: 'hf_a', offline: true, cacheDir: '/hf/hub' });
  });

  it('reads licence and training data from a model card and says when weights are non-commercial', () => {
    const card = parseModelCard('---\nlicense: cc-by-nc-4.0\ndatasets:\n- laion\n---\n# x');
    expect(card).toEqual({ license: 'cc-by-nc-4.0', datasets: ['laion'] });
    expect(licenseNotice('nvidia/QLIP-B-16-256', card)).toMatch(/cc-by-nc-4.0: NON-COMMERCIAL/);
    expect(licenseNotice('x/y', { license: 'apache-2.0' })).not.toMatch(/NON-COMMERCIAL/);
  });
});

describe('downloadModel against a local hub', () => {
  it('downloads into the Hugging Face cache layout and reuses it', async () => {
    const cacheDir = freshCache();
    const r = await downloadModel(REPO, { endpoint: hub.url, cacheDir });
    const commit = hub.commits[REPO]![1]!;
    const repoDir = repoCacheDir(cacheDir, REPO);
    expect(repoDir).toBe(join(cacheDir, 'models--nvidia-test--qlip-tiny'));
    expect(r).toMatchObject({ commit, revision: 'main', firstDownload: true, offline: false });
    expect(r.path).toBe(join(repoDir, 'snapshots', commit));
    expect(readFileSync(join(repoDir, 'refs', 'main'), 'utf8')).toBe(commit);
    // LFS files are stored under their sha256, as Python stores them; links are relative.
    const weights = join(r.path, 'model.safetensors');
    expect(readlinkSync(weights)).toBe(`../../blobs/${sha256(join(dirs.v1, 'model.safetensors'))}`);
    expect(sha256(weights)).toBe(sha256(join(dirs.v1, 'model.safetensors')));
    expect(r.files.map((f) => f.path)).not.toContain('pytorch_model.bin');
    expect(r.card).toMatchObject({ license: 'cc-by-nc-4.0', datasets: ['mnist'] });
    expect(r.downloadedBytes).toBe(r.bytes);
    const again = await downloadModel(REPO, { endpoint: hub.url, cacheDir });
    expect(again).toMatchObject({ commit, downloadedBytes: 0, firstDownload: false });
  });

  it('pins a revision by tag or commit; a cached commit needs no network', async () => {
    const cacheDir = freshCache();
    const [c0] = hub.commits[REPO]!;
    const byTag = await resolveModel(`${REPO}@v0.1`, { endpoint: hub.url, cacheDir });
    expect(byTag.download!.commit).toBe(c0);
    expect(JSON.parse(readFileSync(join(byTag.dir, 'config.json'), 'utf8')).note).toBeUndefined();
    const n = hub.requests.length;
    const byCommit = await resolveModel(`${REPO}@${c0}`, { endpoint: 'http://127.0.0.1:9', cacheDir });
    expect(byCommit.dir).toBe(byTag.dir);
    expect(hub.requests.length).toBe(n);
    // Both revisions share the unchanged blobs.
    const main = await downloadModel(REPO, { endpoint: hub.url, cacheDir });
    expect(main.downloadedBytes).toBe(readFileSync(join(dirs.v1, 'config.json')).length);
  });

  it('resumes a download the server cut off, with a range request from the bytes kept', async () => {
    const cacheDir = freshCache();
    const cut = await serveLocalHub({
      repos: { [REPO]: { revisions: [{ dir: dirs.v1 }] } },
      drop: { path: 'model.safetensors', afterBytes: 1_000_000, times: 2 },
    });
    try {
      // No retries: the first run fails, keeps the partial blob and says how to resume. (What was in flight
      // when the socket closed may be lost, so up to the 1,000,000 bytes sent are kept.)
      const first = await downloadModel(REPO, { endpoint: cut.url, cacheDir, retries: 0 }).catch(
        (e: Error) => e,
      );
      const kept =
        /the (\d+) bytes received are kept in .*\.incomplete: run the same command again to resume/.exec(
          String((first as Error).message),
        );
      expect(kept, String(first)).not.toBeNull();
      const k = Number(kept![1]);
      expect(k).toBeGreaterThan(0);
      expect(k).toBeLessThanOrEqual(1_000_000);
      // The next run resumes there; the server cuts once more and the built-in retry resumes again.
      const r = await downloadModel(REPO, { endpoint: cut.url, cacheDir });
      expect(sha256(join(r.path, 'model.safetensors'))).toBe(sha256(join(dirs.v1, 'model.safetensors')));
      const ranges = cut.requests
        .filter((q) => q.url.startsWith('/cdn/') && q.range !== 'bytes=0-0')
        .map((q) => (q.range ? Number(/^bytes=(\d+)-/.exec(q.range)![1]) : 0));
      expect(ranges).toHaveLength(3); // whole file, resumed by the second run, resumed by its retry
      expect(ranges.slice(0, 2)).toEqual([0, k]);
      expect(ranges[2]).toBeGreaterThan(k);
      expect(ranges[2]).toBeLessThanOrEqual(k + 1_000_000);
      expect(
        existsSync(
          `${join(repoCacheDir(cacheDir, REPO), 'blobs', sha256(join(dirs.v1, 'model.safetensors')))}.incomplete`,
        ),
      ).toBe(false);
    } finally {
      await cut.close();
    }
  });

  it('offline mode uses the cache only, and says what to do when the model is absent', async () => {
    const cacheDir = freshCache();
    await expect(downloadModel(REPO, { endpoint: hub.url, cacheDir, offline: true })).rejects.toThrow(
      /not in the Hugging Face cache .*HF_HUB_OFFLINE=1.*qlip download nvidia-test\/qlip-tiny/,
    );
    await downloadModel(REPO, { endpoint: hub.url, cacheDir });
    const n = hub.requests.length;
    const r = await downloadModel(REPO, { endpoint: hub.url, cacheDir, offline: true });
    expect(r).toMatchObject({ offline: true, commit: hub.commits[REPO]![1] });
    expect(r.files.map((f) => f.path)).toContain('model.safetensors');
    expect(hub.requests.length).toBe(n);
  });

  it('finds a model that Python huggingface_hub put in the cache', async () => {
    // The layout huggingface_hub writes: blobs/<etag>, relative snapshot links, refs/main.
    const cacheDir = freshCache();
    const repoDir = join(cacheDir, 'models--nvidia--QLIP-B-16-256');
    const commit = 'a'.repeat(40);
    mkdirSync(join(repoDir, 'blobs'), { recursive: true });
    mkdirSync(join(repoDir, 'snapshots', commit), { recursive: true });
    mkdirSync(join(repoDir, 'refs'));
    writeFileSync(join(repoDir, 'refs', 'main'), commit);
    for (const f of ['config.json', 'model.safetensors']) {
      const etag = sha256(join(dirs.v0, f));
      cpSync(join(dirs.v0, f), join(repoDir, 'blobs', etag));
      symlinkSync(`../../blobs/${etag}`, join(repoDir, 'snapshots', commit, f));
    }
    const r = await resolveModel('nvidia/QLIP-B-16-256', { cacheDir, offline: true });
    expect(r.dir).toBe(join(repoDir, 'snapshots', commit));
  });

  it('a private repository without HF_TOKEN is a clear 401; with it, it downloads', async () => {
    const cacheDir = freshCache();
    await expect(downloadModel('acme/private-qlip', { endpoint: hub.url, cacheDir })).rejects.toThrow(
      /access denied \(HTTP 401\).*set HF_TOKEN/,
    );
    await expect(
      downloadModel('acme/private-qlip', { endpoint: hub.url, cacheDir, token: 'hf_wrong' }),
    ).rejects.toThrow(/token in HF_TOKEN was refused/);
    const r = await downloadModel('acme/private-qlip', { endpoint: hub.url, cacheDir, token: 'hf_secret' });
    expect(r.files.length).toBeGreaterThan(3);
    await expect(downloadModel('acme/none', { endpoint: hub.url, cacheDir })).rejects.toThrow(
      /not found \(HTTP 404\)/,
    );
  });

  it('one download of a repository at a time: a second one names the process holding it', async () => {
    const cacheDir = freshCache();
    const lock = await acquireOutputLock(
      join(cacheDir, '.locks', 'models--acme--sharded'),
      'qlip download acme/sharded',
    );
    try {
      await expect(downloadModel('acme/sharded', { endpoint: hub.url, cacheDir })).rejects.toThrow(
        new RegExp(`pid ${process.pid}.*qlip download acme/sharded`),
      );
    } finally {
      await lock.release();
    }
    const r = await downloadModel('acme/sharded', { endpoint: hub.url, cacheDir });
    expect(r.files).toHaveLength(4);
  });

  it('fetches every shard of a sharded checkpoint', async () => {
    const r = await downloadModel('acme/sharded', { endpoint: hub.url, cacheDir: freshCache() });
    expect(r.files.map((f) => f.path)).toEqual([
      'config.json',
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
      'model.safetensors.index.json',
    ]);
    expect(r.bytes).toBe(
      2 + 3000 + 2000 + readFileSync(join(dirs.sharded, 'model.safetensors.index.json')).length,
    );
  });
});
