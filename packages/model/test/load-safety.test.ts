import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCheckpoint, SINGLE_FILE, selectBackend, toFloat32, writeSafetensors } from '@qlip/core';
import { tinyConfig } from '@qlip/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import { QLIPModel } from '../src/index.js';

// Issue 13 item 12: a FIFO config.json, a config without its towers, NaN/Inf weights.
beforeAll(async () => {
  await selectBackend('cpu');
});

async function saved(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'qlip-load-safety-'));
  const model = QLIPModel.create(tinyConfig(), 2);
  await model.save(dir);
  model.dispose();
  return dir;
}

describe('QLIPModel.load refuses what it cannot trust', () => {
  it('a config.json that is a FIFO is refused at once (it used to hang)', async () => {
    const dir = await saved();
    const cfg = join(dir, 'config.json');
    await rm(cfg);
    try {
      execFileSync('mkfifo', [cfg]);
    } catch {
      return; // no mkfifo on this system
    }
    const t0 = Date.now();
    await expect(QLIPModel.load(dir)).rejects.toThrow(
      /config\.json: QLIP config is a FIFO \(named pipe\), not a regular file/,
    );
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('a config.json without vision_config is refused naming what is missing (not filled with ViT-B defaults)', async () => {
    const dir = await saved();
    const cfgPath = join(dir, 'config.json');
    const cfg = JSON.parse(await readFile(cfgPath, 'utf8'));
    delete cfg.vision_config;
    await writeFile(cfgPath, JSON.stringify(cfg));
    await expect(QLIPModel.load(dir)).rejects.toThrow(`${cfgPath}: not a QLIP config: no vision_config`);
    delete cfg.text_config;
    await writeFile(cfgPath, JSON.stringify(cfg));
    await expect(QLIPModel.load(dir)).rejects.toThrow(/no vision_config and no text_config/);
  });

  it('NaN or Inf weights are refused at load, naming the tensor', async () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
      const dir = await saved();
      const file = join(dir, SINGLE_FILE);
      const ckpt = await openCheckpoint(dir);
      const tensors = new Map();
      for (const [name, e] of ckpt.entries) {
        const data = toFloat32(await ckpt.read(name));
        if (name === 'vision_model.embeddings.patch_embedding.weight') data[3] = bad;
        tensors.set(name, { dtype: 'F32', shape: e.shape, data });
      }
      await ckpt.close();
      await writeSafetensors(file, tensors);
      await expect(QLIPModel.load(dir)).rejects.toThrow(
        new RegExp(
          `${dir}: tensor "vision_model\\.embeddings\\.patch_embedding\\.weight" holds 1 non-finite value\\(s\\) \\(first ${bad} at element 3`,
        ),
      );
    }
  });
});
