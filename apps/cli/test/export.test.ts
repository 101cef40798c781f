import { readFileSync, statSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from '@oclif/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../../../fixtures/qlip-reference/qlip-tiny-eva', import.meta.url));

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'qlip-cli-export-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('qlip export onnx', () => {
  it('writes the three graphs and reports files, opset and the verification as JSON', async () => {
    const out = join(tmp, 'onnx');
    const { stdout, error } = await runCommand(
      ['export', 'onnx', '--model', FIXTURE, '--out', out, '--json', '--backend', 'wasm'],
      { root },
    );
    expect(error).toBeUndefined();
    const r = JSON.parse(stdout);
    expect(r.opset).toBe(17);
    expect(r.files.map((f: { name: string }) => f.name).sort()).toEqual([
      'decoder.onnx',
      'image_encoder.onnx',
      'qlip-onnx.json',
      'text_encoder.onnx',
    ]);
    for (const f of r.files) expect(f.bytes).toBeGreaterThan(0);
    expect(r.verification.passed).toBe(true);
    expect(r.verification.indexMismatches).toBe(0);
    expect(r.verification.maxAbsDiff.decodedPixels).toBeLessThan(1e-4);
    expect(['passed', 'skipped']).toContain(r.checker.status);
    if (r.checker.status === 'skipped') console.warn(`onnx.checker skipped: ${r.checker.detail}`);
    expect((await readdir(out)).sort()).toEqual(r.files.map((f: { name: string }) => f.name).sort());
  });

  it('puts weights in external data with --external-data-mb 0', async () => {
    const out = join(tmp, 'onnx-ext');
    const { stdout, error } = await runCommand(
      [
        'export',
        'onnx',
        '-m',
        FIXTURE,
        '-o',
        out,
        '--external-data-mb',
        '0',
        '--no-verify',
        '--json',
        '--backend',
        'cpu',
      ],
      { root },
    );
    expect(error).toBeUndefined();
    const r = JSON.parse(stdout);
    expect(r.files.map((f: { name: string }) => f.name)).toContain('text_encoder.onnx.data');
    expect(r.verification).toBeUndefined();
  });

  it('fails on an unwritable output path without writing anything', async () => {
    const file = join(tmp, 'a-file');
    await writeFile(file, 'x');
    const { error } = await runCommand(
      ['export', 'onnx', '-m', FIXTURE, '-o', join(file, 'out'), '--backend', 'cpu'],
      { root },
    );
    expect(error?.message).toMatch(/a-file\/out: cannot create the output directory/);
  });

  it('names the model directory when it is not a model', async () => {
    const { error } = await runCommand(
      ['export', 'onnx', '-m', tmp, '-o', join(tmp, 'x'), '--backend', 'cpu'],
      { root },
    );
    expect(error?.message).toMatch(/config\.json: cannot read QLIP config/);
  });
});

describe('qlip export safetensors', () => {
  it('writes the Hugging Face layout and checks the re-loaded model', async () => {
    const out = join(tmp, 'hf');
    const { stdout, error } = await runCommand(
      [
        'export',
        'safetensors',
        '--model',
        FIXTURE,
        '--out',
        out,
        '--name',
        'tiny',
        '--json',
        '--backend',
        'wasm',
      ],
      { root },
    );
    expect(error).toBeUndefined();
    const r = JSON.parse(stdout);
    expect(r.files.map((f: { name: string }) => f.name).sort()).toEqual([
      'README.md',
      'config.json',
      'merges.txt',
      'model.safetensors',
      'preprocessor_config.json',
      'special_tokens_map.json',
      'tokenizer_config.json',
      'vocab.json',
    ]);
    expect(r.parameters).toBeGreaterThan(1_000_000);
    expect(r.verification).toMatchObject({ passed: true, indexMismatches: 0 });
    expect(r.verification.maxAbsDiff).toEqual({ reconstruction: 0, imageEmbeds: 0, textEmbeds: 0 });
  });

  it('--dtype f16 halves the weights file and re-loads within half-precision rounding', async () => {
    const out = join(tmp, 'hf16');
    const { stdout, error } = await runCommand(
      [
        'export',
        'safetensors',
        '--model',
        FIXTURE,
        '--out',
        out,
        '--dtype',
        'f16',
        '--json',
        '--backend',
        'wasm',
      ],
      { root },
    );
    expect(error).toBeUndefined();
    const r = JSON.parse(stdout);
    const weights = r.files.find((f: { name: string }) => f.name === 'model.safetensors').bytes;
    const f32 = statSync(join(FIXTURE, 'model.safetensors')).size;
    expect(weights).toBeLessThan(0.55 * f32);
    expect(r.verification.passed).toBe(true);
    expect(r.verification.maxAbsDiff.imageEmbeds).toBeGreaterThan(0); // really rounded, not a copy
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).torch_dtype).toBe('float16');
  });

  it('refuses a non-empty --out without --overwrite, and --out equal to --model even with it (issue 13 item 6)', async () => {
    const out = join(tmp, 'users-folder');
    await mkdir(out);
    await writeFile(join(out, 'README.md'), 'mine');
    const refused = await runCommand(
      ['export', 'safetensors', '-m', FIXTURE, '-o', out, '--backend', 'cpu'],
      { root },
    );
    expect(refused.error?.message).toMatch(/not empty \(README\.md\); pass --overwrite/);
    expect(readFileSync(join(out, 'README.md'), 'utf8')).toBe('mine');
    const model = join(tmp, 'ckpt');
    await cp(FIXTURE, model, { recursive: true });
    const before = readFileSync(join(model, 'model.safetensors'));
    const inPlace = await runCommand(
      [
        'export',
        'safetensors',
        '-m',
        model,
        '-o',
        model,
        '--dtype',
        'f16',
        '--overwrite',
        '--backend',
        'cpu',
      ],
      { root },
    );
    expect(inPlace.error?.message).toMatch(/is the model folder .*never writes into the checkpoint it reads/);
    expect(readFileSync(join(model, 'model.safetensors')).equals(before)).toBe(true);
  });

  it('lists both export commands in help', async () => {
    const { stdout } = await runCommand(['export', '--help'], { root });
    expect(stdout).toMatch(/export onnx/);
    expect(stdout).toMatch(/export safetensors/);
  });
});
