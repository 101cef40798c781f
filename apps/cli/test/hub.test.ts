import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from '@oclif/test';
import { type LocalHub, serveLocalHub } from '@qlip/hub/local-hub';
import { defaultModelDir } from '@qlip/pretrained';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'qlip-cli-hub-'));
let hub: LocalHub;
let imgDir: string;
const saved = { ...process.env };

beforeAll(async () => {
  const model = join(tmp, 'model');
  cpSync(defaultModelDir(), model, { recursive: true });
  const card = readFileSync(join(model, 'README.md'), 'utf8');
  writeFileSync(join(model, 'README.md'), card.replace(/^license: .*$/m, 'license: cc-by-nc-4.0'));
  hub = await serveLocalHub({
    repos: {
      'nvidia/QLIP-tiny-test': { revisions: [{ dir: model }] },
      'nvidia/QLIP-private': { revisions: [{ dir: model }], token: 'hf_ok' },
    },
  });
  imgDir = join(tmp, 'imgs');
  mkdirSync(imgDir);
  for (let i = 0; i < 2; i++) {
    await sharp(Buffer.alloc(40 * 40 * 3, 60 * i), { raw: { width: 40, height: 40, channels: 3 } })
      .png()
      .toFile(join(imgDir, `d${i}.png`));
  }
  process.env.HF_ENDPOINT = hub.url;
  process.env.HF_HUB_CACHE = join(tmp, 'hf-cache');
  delete process.env.HF_TOKEN;
  delete process.env.HF_HUB_OFFLINE;
});
afterAll(async () => {
  process.env = saved;
  await hub.close();
});

describe('hub ids in the CLI (local test hub)', () => {
  it('qlip download fetches into the HF cache, prints the licence once, then tokenize --model ID works offline', async () => {
    const first = await runCommand(['download', 'nvidia/QLIP-tiny-test', '--json'], { root });
    expect(first.error).toBeUndefined();
    const r = JSON.parse(first.stdout);
    expect(r).toMatchObject({ repo: 'nvidia/QLIP-tiny-test', revision: 'main', firstDownload: true });
    expect(r.path).toBe(join(tmp, 'hf-cache', 'models--nvidia--QLIP-tiny-test', 'snapshots', r.commit));
    expect(r.files.map((f: { path: string }) => f.path)).toContain('model.safetensors');
    expect(first.stderr).toMatch(/licence of nvidia\/QLIP-tiny-test: cc-by-nc-4.0: NON-COMMERCIAL/);
    const again = await runCommand(['download', 'nvidia/QLIP-tiny-test'], { root });
    expect(again.stderr).not.toMatch(/licence/);
    expect(again.stdout).toMatch(/all cached/);

    process.env.HF_HUB_OFFLINE = '1';
    try {
      const out = join(tmp, 'tokens');
      const t = await runCommand(
        ['tokenize', imgDir, '--model', 'nvidia/QLIP-tiny-test', '--out', out, '--json', '--backend', 'wasm'],
        { root },
      );
      expect(t.error).toBeUndefined();
      expect(JSON.parse(t.stdout)).toMatchObject({ tokenized: 2, grid: [4, 4], bits: 16 });
      const missing = await runCommand(['download', 'nvidia/QLIP-absent'], { root });
      expect(missing.error?.message).toMatch(/not in the Hugging Face cache.*HF_HUB_OFFLINE=1/);
    } finally {
      delete process.env.HF_HUB_OFFLINE;
    }
  });

  it('a private model without HF_TOKEN fails with a message naming HF_TOKEN', async () => {
    const { error } = await runCommand(['download', 'nvidia/QLIP-private'], { root });
    expect(error?.message).toMatch(/access denied \(HTTP 401\).*HF_TOKEN/);
    process.env.HF_TOKEN = 'hf_ok';
    try {
      const ok = await runCommand(['download', 'nvidia/QLIP-private', '--json'], { root });
      expect(ok.error).toBeUndefined();
    } finally {
      delete process.env.HF_TOKEN;
    }
  });
});
