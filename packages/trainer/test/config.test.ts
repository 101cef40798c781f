import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseQLIPConfig, qlipSpecs } from '@qlip/model';
import { describe, expect, it } from 'vitest';
import {
  explainTrainConfig,
  PRESET_DIR,
  PRESETS,
  presetLayer,
  resolveTrainConfig,
  TRAIN_CONFIG_SCHEMA_FILE,
  trainConfigJsonSchema,
} from '../src/index.js';

const fixture = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../../fixtures/bench-s.json', import.meta.url)), 'utf8'),
);

/** Parameter count of the spec names starting with any prefix. */
function count(specs: { name: string; shape: number[] }[], ...prefixes: string[]): number {
  return specs
    .filter((s) => prefixes.some((p) => s.name.startsWith(p)))
    .reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}

describe('presets', () => {
  it.each(PRESETS)('%s resolves with every section filled in', (name) => {
    const c = resolveTrainConfig([presetLayer(name)]);
    expect(c.stage).toBe(1);
    expect(c.data.imageSize).toBe(
      (c.model as { vision_config: { image_size: number } }).vision_config.image_size,
    );
    expect(c.loss.stage2.ganLoss).toBeDefined();
    expect(() => parseQLIPConfig(c.model)).not.toThrow();
  });

  it.each(PRESETS)('%s resolves to exactly what its JSON file says', (name) => {
    const { $schema: _, ...file } = JSON.parse(readFileSync(join(PRESET_DIR, `${name}.json`), 'utf8'));
    // Defaults fill in what the file leaves out; nothing the file sets is changed.
    expect(resolveTrainConfig([presetLayer(name)])).toMatchObject(file);
  });

  it.each(PRESETS)(
    '%s is a consistent geometry (encoder and decoder agree, bits split in groups)',
    (name) => {
      const c = resolveTrainConfig([presetLayer(name)]);
      const m = parseQLIPConfig(c.model);
      const [v, d, t] = [m.vision_config, m.decoder_config, m.text_config];
      expect([d.image_size, d.patch_size, c.data.imageSize]).toEqual([
        v.image_size,
        v.patch_size,
        v.image_size,
      ]);
      expect(v.image_size % v.patch_size).toBe(0);
      expect(v.quantizer_cfg.embed_dim % v.quantizer_cfg.group_size).toBe(0);
      for (const s of [v, d, t]) expect(s.hidden_size % s.num_attention_heads).toBe(0);
      expect(c.schedule.warmupSteps).toBeLessThan(c.steps);
    },
  );

  it('the tiny presets stay small enough to train in CI minutes (under 5M parameters)', () => {
    for (const name of ['tiny-mnist', 'tiny-emoji']) {
      const m = parseQLIPConfig(resolveTrainConfig([presetLayer(name)]).model);
      expect(count(qlipSpecs(m), '')).toBeLessThan(5e6);
    }
  });

  it('bench-s has the fixture model: shapes and per-tower parameter counts', () => {
    const c = resolveTrainConfig([presetLayer('bench-s')]);
    const m = parseQLIPConfig(c.model);
    const v = m.vision_config;
    const f = fixture;
    expect(v.image_size).toBe(f.image.size);
    expect(v.patch_size).toBe(f.patch_embed.patch_size);
    expect(v.hidden_size).toBe(f.vision_encoder.width);
    expect(v.num_hidden_layers).toBe(f.vision_encoder.depth);
    expect(v.num_attention_heads).toBe(f.vision_encoder.heads);
    expect(v.intermediate_size).toBe(f.vision_encoder.mlp_hidden);
    expect(v.quantizer_cfg.embed_dim).toBe(f.bottleneck.bsq.bits);
    expect(v.quantizer_cfg.group_size).toBe(f.bottleneck.bsq.entropy.group_size);
    expect(m.text_config.hidden_size).toBe(f.text_encoder.width);
    expect(m.text_config.num_hidden_layers).toBe(f.text_encoder.depth);
    expect(m.text_config.max_position_embeddings).toBe(f.text_encoder.context_length);
    for (const s of [v, m.decoder_config, m.text_config]) {
      expect([s.hidden_act, s.rope, s.swiglu, s.subln]).toEqual(['gelu', false, false, false]);
    }
    expect(c.optimizer).toMatchObject({ lr: 1e-4, betas: [0.9, 0.999], weightDecay: 0.05, noDecay: 'none' });
    // 32 images per optimizer step as 2 x 16: a 32-image stage-1 backward needs ~7 GB of tfjs tensors,
    // more than the 4 GB a wasm heap can hold.
    expect(c.data.batchSize * c.optimizer.gradAccum).toBe(f.benchmark.batch);
    expect(c.loss.stage1).toMatchObject({ contrastive: 'plain', balancing: 'fixed' });
    const specs = qlipSpecs(m);
    const e = f.expected.params;
    expect(count(specs, 'vision_model.embeddings', 'vision_model.encoder')).toBe(e.vision_encoder);
    expect(count(specs, 'vision_decoder')).toBe(e.decoder);
    expect(count(specs, 'text_model', 'text_projection')).toBe(e.text_encoder); // the fixture counts the projection here
    expect(count(specs, 'vision_model.post_layernorm', 'visual_projection')).toBe(e.image_embedding);
    // Our quant_embed is the official 2-layer MLP (c_fc 256->256, c_proj 256->18), bench-s has one Linear.
    expect(count(specs, 'vision_model.quant_embed')).toBe(e.bottleneck + 2 * (256 * 256 + 256));
  });

  it('qlip-b-16-256 has the geometry of the released nvidia/QLIP-B-16-256 (about 240M parameters)', () => {
    const m = parseQLIPConfig(resolveTrainConfig([presetLayer('qlip-b-16-256')]).model);
    const n = count(qlipSpecs(m), '');
    expect(n).toBeGreaterThan(230e6);
    expect(n).toBeLessThan(250e6);
    // B-16-256: ViT-B (768 wide, 12 layers), patch 16, 256 px; the release's tokens carry 28 bits.
    const v = m.vision_config;
    expect([v.hidden_size, v.num_hidden_layers, v.patch_size, v.image_size]).toEqual([768, 12, 16, 256]);
    expect(v.quantizer_cfg.embed_dim).toBe(28);
  });

  it('rejects an unknown preset naming the valid ones', () => {
    expect(() => presetLayer('huge')).toThrow(
      `unknown preset "huge" (expected one of ${PRESETS.join(', ')})`,
    );
    // every bundled preset file is listed, and nothing else
    const files = readdirSync(PRESET_DIR).filter((f) => f.endsWith('.json'));
    expect(files.map((f) => f.replace(/\.json$/, '')).sort()).toEqual([...PRESETS].sort());
  });
});

describe('resolveTrainConfig', () => {
  const preset = presetLayer('tiny-mnist');

  it('layers preset < file < flags', () => {
    const c = resolveTrainConfig([
      preset,
      { source: 'run.json', values: { steps: 7, optimizer: { lr: 0.5, gradAccum: 2 } } },
      { source: 'command-line flags', values: { optimizer: { lr: 0.25 } } },
    ]);
    expect(c.steps).toBe(7);
    expect(c.optimizer.lr).toBe(0.25);
    expect(c.optimizer.gradAccum).toBe(2);
    expect(c.optimizer.clipNorm).toBe(1);
  });

  it('names the bad key and the layer that set it', () => {
    expect(() =>
      resolveTrainConfig([preset, { source: 'run.json', values: { optimizer: { lr: 'fast' } } }]),
    ).toThrow(/optimizer\.lr: .*number.* \(from run\.json\)/);
    expect(() =>
      resolveTrainConfig([preset, { source: 'run.json', values: { schedule: { warmup: 5 } } }]),
    ).toThrow(/schedule\.warmup: unknown key, did you mean "warmupSteps"\? \(from run\.json\)/);
    expect(() =>
      resolveTrainConfig([preset, { source: 'run.json', values: { optimiser: { lr: 1 } } }]),
    ).toThrow(/optimiser: unknown key, did you mean "optimizer"\? \(from run\.json\)/);
    expect(() =>
      resolveTrainConfig([
        preset,
        { source: 'run.json', values: { model: { vision_config: { patch_size: 'x' } } } },
      ]),
    ).toThrow(/model\.vision_config\.patch_size: .* \(from run\.json\)/);
  });

  it('does not blame a layer whose value for the key is undefined (an unset flag)', () => {
    expect(() =>
      resolveTrainConfig([
        preset,
        { source: 'run.json', values: { optimizer: { lr: 'fast' } } },
        { source: 'command-line flags', values: { optimizer: { lr: undefined } } },
      ]),
    ).toThrow(/optimizer\.lr: .* \(from run\.json\)/);
  });

  it('checks the data image size against the model', () => {
    expect(() =>
      resolveTrainConfig([preset, { source: 'command-line flags', values: { data: { imageSize: 64 } } }]),
    ).toThrow(/data\.imageSize: 64 must equal model\.vision_config\.image_size \(32\)/);
  });

  it('requires steps', () => {
    const { steps: _, ...rest } = preset.values;
    expect(() => resolveTrainConfig([{ source: 'preset x', values: rest }])).toThrow(
      /steps: .*\(from defaults\)/,
    );
  });
});

describe("a data source from a file or flag replaces the preset's", () => {
  it.each(PRESETS)('%s + {data: {source: {kind: folder}}} validates (no stale name/split)', (name) => {
    const file = { source: 'mine.json', values: { data: { source: { kind: 'folder', path: 'my-images' } } } };
    const { config, origins } = explainTrainConfig([presetLayer(name), file]);
    expect(config.data.source).toEqual({ kind: 'folder', path: 'my-images', missingCaption: 'skip' });
    expect(origins['data.source.kind']).toBe('mine.json');
    expect(origins['data.imageSize']).toBe(`preset ${name}`);
    expect(origins['loss.stage1.balancerDecay']).toBe('default');
    expect(Object.keys(origins).some((k) => k.startsWith('data.source.name'))).toBe(false);
  });
});

describe('train-config.schema.json', () => {
  it('is current (regenerated by pnpm build from the zod schemas)', () => {
    const shipped = JSON.parse(readFileSync(TRAIN_CONFIG_SCHEMA_FILE, 'utf8'));
    expect(shipped).toEqual(trainConfigJsonSchema());
  });

  it('describes the model section, the source union and allows $schema; no key is required in a layer', () => {
    const s = trainConfigJsonSchema() as {
      required?: string[];
      properties: Record<string, { properties?: Record<string, unknown>; required?: string[] }>;
    };
    expect(s.required).toBeUndefined();
    expect(s.properties.$schema).toEqual({ type: 'string' });
    expect(s.properties.model?.properties?.vision_config).toBeDefined();
    const data = s.properties.data as {
      required?: string[];
      properties: { source: { oneOf: { required: string[] }[] } };
    };
    expect(data.required).toBeUndefined();
    expect(data.properties.source.oneOf.map((b) => b.required)).toContainEqual(['kind', 'path']);
  });
});
