import { cp, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from '@oclif/test';
import { defaultModelDir } from '@qlip/pretrained';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('qlip eval --runtime onnx', () => {
  it('gives the same zero-shot predictions and reconstruction metrics as the tfjs runtime', async () => {
    const tmp = await mkdtemp(join(tmpdir(), 'qlip-eval-onnx-'));
    const model = join(tmp, 'model');
    await cp(defaultModelDir(), model, { recursive: true });
    const exp = await runCommand(
      ['export', 'onnx', '--model', model, '--out', join(model, 'onnx'), '--no-verify', '--json'],
      { root },
    );
    expect(exp.error).toBeUndefined();
    const run = async (cmd: string, runtime: string) => {
      const r = await runCommand(
        [
          'eval',
          cmd,
          '--model',
          model,
          '--data',
          'mnist',
          '--limit',
          '48',
          '--runtime',
          runtime,
          '--json',
          '--backend',
          'wasm',
        ],
        { root },
      );
      expect(r.error).toBeUndefined();
      return JSON.parse(r.stdout);
    };
    const [zt, zo] = [await run('zero-shot', 'tfjs'), await run('zero-shot', 'onnx')];
    expect(zo.runtime).toBe('onnx');
    expect(zo.confusion).toEqual(zt.confusion);
    const [rt, ro] = [await run('reconstruction', 'tfjs'), await run('reconstruction', 'onnx')];
    expect(ro.codebook.distinctCodes).toBe(rt.codebook.distinctCodes);
    expect(Math.abs(ro.psnr - rt.psnr)).toBeLessThan(0.01);
  });
});
