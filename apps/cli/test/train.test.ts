import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from '@oclif/test';
import { presetLayer, resolveTrainConfig } from '@qlip/trainer';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

/** tiny-mnist shrunk so three steps take a few seconds: 64 digits, 2 layers of width 32. */
const small = {
  model: {
    vision_config: { hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1 },
    decoder_config: { hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1 },
    text_config: { hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1 },
  },
  data: { source: { kind: 'builtin', name: 'mnist', limit: 64 }, shuffleBuffer: 16 },
};

describe('qlip train', () => {
  it('runs 3 tiny-mnist steps and returns the result as JSON', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qlip-cli-train-'));
    const cfg = join(dir, 'small.json');
    await writeFile(cfg, JSON.stringify(small));
    const out = join(dir, 'run');
    const args = ['train', '--preset', 'tiny-mnist', '--config', cfg, '--out', out, '--steps', '3'];
    const { stdout, error } = await runCommand(
      [...args, '--batch-size', '4', '--lr', '2e-3', '--backend', 'wasm', '--json'],
      {
        root,
      },
    );
    expect(error).toBeUndefined();
    const r = JSON.parse(stdout);
    expect(r).toMatchObject({
      stage: 1,
      step: 3,
      steps: 3,
      stopped: 'completed',
      checkpoint: join(out, 'step-000003'),
    });
    const { warmupSteps } = resolveTrainConfig([presetLayer('tiny-mnist')]).schedule;
    expect(r.last.lr).toBeCloseTo(2e-3 * (3 / warmupSteps), 12); // still in tiny-mnist's linear warm-up
    expect(r.stepsPerSecond).toBeGreaterThan(0);
    const state = JSON.parse(await readFile(join(out, 'step-000003', 'trainer_state.json'), 'utf8'));
    expect(state.config.data.batchSize).toBe(4);
    expect(state.config.model.vision_config.hidden_size).toBe(32);
    expect((await readFile(join(out, 'metrics.jsonl'), 'utf8')).trim().split('\n')).toHaveLength(3);

    // --resume without --preset continues from the checkpoint's own config; a longer run must say --extend.
    const resume = ['train', '--out', out, '--resume', out, '--steps', '4', '--backend', 'wasm', '--json'];
    const refused = await runCommand(resume, { root });
    expect(JSON.parse(refused.stdout).error.message).toMatch(
      /ends at step 3 but this run's ends at 4: .*--extend/,
    );
    const more = await runCommand([...resume, '--extend'], { root });
    expect(more.error).toBeUndefined();
    expect(JSON.parse(more.stdout)).toMatchObject({ startStep: 3, step: 4 });
  });

  it('names the bad key and the file it came from', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qlip-cli-train-'));
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ optimizer: { lr: 'fast', warmup: 3 } }));
    const args = ['train', '--config', bad, '--out', join(dir, 'run')];
    // Without --json oclif reports the error; with it the error is the JSON result on stdout.
    const plain = await runCommand(args, { root });
    const json = await runCommand([...args, '--json'], { root });
    for (const message of [plain.error?.message, JSON.parse(json.stdout).error.message]) {
      expect(message).toMatch(/optimizer\.lr: .*number.* \(from .*bad\.json\)/);
      expect(message).toMatch(/optimizer\.warmup: unknown key \(from .*bad\.json\)/);
    }
  });

  it('teaches with examples in --help', async () => {
    const { stdout } = await runCommand(['train', '--help'], { root });
    expect(stdout).toMatch(/--resume/);
    expect(stdout).toMatch(/qlip train --preset tiny-mnist --stage 2 --init/);
  });

  it('trains on a folder of captioned images with --data, and --print-config says where each value came from', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qlip-cli-train-'));
    const images = join(dir, 'my-images');
    await mkdir(images);
    const captions = ['a red square', 'a green square', 'a blue square', 'a grey square'];
    for (const [i, caption] of captions.entries()) {
      const px = Buffer.alloc(20 * 12 * 3, 60 * i);
      await sharp(px, { raw: { width: 20, height: 12, channels: 3 } })
        .png()
        .toFile(join(images, `${i}.png`));
      await writeFile(join(images, `${i}.txt`), caption);
    }
    const cfg = join(dir, 'small.json');
    await writeFile(cfg, JSON.stringify({ $schema: 'train-config.schema.json', model: small.model }));
    const base = ['train', '--preset', 'tiny-mnist', '--config', cfg, '--data', images, '--batch-size', '4'];

    const printed = await runCommand([...base, '--print-config', '--json'], { root });
    expect(printed.error).toBeUndefined();
    const { config, origins } = JSON.parse(printed.stdout);
    expect(config.data.source).toEqual({ kind: 'folder', path: images, missingCaption: 'skip' });
    expect(origins).toMatchObject({
      'data.source.kind': 'flag --data',
      'data.batchSize': 'flag --batch-size',
      'model.vision_config.hidden_size': cfg,
      'model.vision_config.patch_size': 'preset tiny-mnist',
      'data.dropLast': 'default',
    });
    const text = await runCommand([...base, '--print-config'], { root });
    expect(text.stdout).toMatch(/^data\.source\.kind +"folder" +# flag --data$/m);
    expect(text.stdout).toMatch(/^data\.dropLast +false +# default$/m);
    expect(text.stderr).toMatch(/data: folder with \.txt captions \(4 images, 4 captioned\)/);
    expect(text.stderr).not.toMatch(/fewer than one batch/);
    const big = await runCommand([...base.slice(0, -2), '--batch-size', '8', '--print-config'], { root });
    expect(big.stderr).toMatch(/warning: 4 training image\(s\), fewer than one batch \(8\)/);

    const out = join(dir, 'runs', 'mine');
    const run = await runCommand([...base, '--out', out, '--steps', '2', '--backend', 'wasm', '--json'], {
      root,
    });
    expect(run.error).toBeUndefined();
    expect(JSON.parse(run.stdout)).toMatchObject({ step: 2, stopped: 'completed' });
    const state = JSON.parse(await readFile(join(out, 'step-000002', 'trainer_state.json'), 'utf8'));
    expect(state.config.data.source.kind).toBe('folder');

    // The exported model card says what the checkpoint was trained on, for how long, and its losses.
    const release = join(dir, 'release');
    const exp = await runCommand(
      [
        'export',
        'safetensors',
        '--model',
        join(out, 'step-000002'),
        '--out',
        release,
        '--no-verify',
        '--json',
      ],
      { root },
    );
    expect(exp.error).toBeUndefined();
    const card = await readFile(join(release, 'README.md'), 'utf8');
    expect(card).toMatch(/\| data \| a folder of images with \.txt captions \(`my-images`\) \|/);
    expect(card).toMatch(/\| steps \| 2 of 2 \|/);
    expect(card).toMatch(/\| images seen \| 8 \(4 per step, 32 px\) \|/);
    expect(card).toMatch(/\| losses at step 2 \| total \d+\.\d{4}, reconstruction \d+\.\d{4}, contrastive/);
    expect(card).toMatch(/\| smoothed losses at the end \| reconstruction \d/);
    expect(card).not.toContain(dir); // no local paths in a card meant for publishing
    expect(card).toMatch(/Those two files are not in this folder/);
  });

  it('a --config file that switches data.source.kind replaces the preset source', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qlip-cli-train-'));
    const cfg = join(dir, 'classes.json');
    await writeFile(cfg, JSON.stringify({ data: { source: { kind: 'classFolder', path: dir } } }));
    const r = await runCommand(['train', '--config', cfg, '--print-config', '--json'], { root });
    expect(r.error).toBeUndefined();
    expect(JSON.parse(r.stdout).config.data.source).toEqual({ kind: 'classFolder', path: dir });
  });
});
