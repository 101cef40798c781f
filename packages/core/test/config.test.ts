import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  deepMerge,
  didYouMean,
  readJsonConfig,
  resolveConfig,
  resolveConfigWithOrigins,
} from '../src/index.js';

const schema = z.object({
  lr: z.number().positive(),
  model: z.object({ width: z.number().int(), depth: z.number().int() }),
  tags: z.array(z.string()).default([]),
});

describe('config layering', () => {
  it('deep-merges with later layers winning, arrays replaced, undefined ignored', () => {
    expect(deepMerge({ a: { b: 1, c: 2 }, t: [1, 2] }, { a: { c: 3 }, t: [9], u: undefined })).toEqual({
      a: { b: 1, c: 3 },
      t: [9],
    });
  });

  it('resolves preset < file < flags', () => {
    const cfg = resolveConfig(schema, [
      { source: 'preset tiny', values: { lr: 1e-3, model: { width: 64, depth: 2 } } },
      { source: 'run.json', values: { model: { depth: 4 } } },
      { source: 'command-line flags', values: { lr: 5e-4 } },
    ]);
    expect(cfg).toEqual({ lr: 5e-4, model: { width: 64, depth: 4 }, tags: [] });
  });

  it('names the key and the layer that set a bad value', () => {
    expect(() =>
      resolveConfig(schema, [
        { source: 'preset tiny', values: { lr: 1e-3, model: { width: 64, depth: 2 } } },
        { source: 'run.json', values: { model: { width: 'wide' } } },
      ]),
    ).toThrow(/model\.width: .*\(from run\.json\)/);
  });

  it('reads JSON files with errors naming the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qlip-config-'));
    writeFileSync(join(dir, 'ok.json'), '{"lr": 1}');
    writeFileSync(join(dir, 'bad.json'), '{"lr": ');
    writeFileSync(join(dir, 'list.json'), '[1]');
    expect(readJsonConfig(join(dir, 'ok.json'))).toEqual({ lr: 1 });
    expect(() => readJsonConfig(join(dir, 'bad.json'))).toThrow(/bad\.json: not valid JSON/);
    expect(() => readJsonConfig(join(dir, 'list.json'))).toThrow(/list\.json: expected a JSON object/);
    expect(() => readJsonConfig(join(dir, 'missing.json'))).toThrow(
      /missing\.json: cannot read config file \(ENOENT\)/,
    );
  });
});

describe('config layering with discriminated unions', () => {
  const source = z.discriminatedUnion('kind', [
    z.strictObject({
      kind: z.literal('builtin'),
      name: z.string(),
      split: z.enum(['train', 'test']).default('train'),
    }),
    z.strictObject({
      kind: z.literal('folder'),
      path: z.string(),
      missingCaption: z.enum(['skip', 'filename']).default('skip'),
    }),
  ]);
  const s = z.strictObject({
    data: z.strictObject({ source, batchSize: z.number().int().default(8) }),
    optimizer: z.strictObject({ lr: z.number().default(1e-3) }).prefault({}),
  });
  const preset = {
    source: 'preset p',
    values: { data: { source: { kind: 'builtin', name: 'mnist', split: 'test' } } },
  };

  it('a layer that sets the tag replaces the whole branch', () => {
    const cfg = resolveConfig(s, [
      preset,
      { source: 'f.json', values: { data: { source: { kind: 'folder', path: 'imgs' } } } },
    ]);
    expect(cfg.data.source).toEqual({ kind: 'folder', path: 'imgs', missingCaption: 'skip' });
  });

  it('a layer without the tag merges into the current branch', () => {
    const cfg = resolveConfig(s, [
      preset,
      { source: 'f.json', values: { data: { source: { name: 'emoji' }, batchSize: 4 } } },
    ]);
    expect(cfg.data).toEqual({ source: { kind: 'builtin', name: 'emoji', split: 'test' }, batchSize: 4 });
  });

  it('deepMerge with a schema switches unions too; without one it merges', () => {
    const over = { data: { source: { kind: 'folder', path: 'x' } } };
    expect(deepMerge(preset.values, over, s)).toEqual(over);
    expect(deepMerge(preset.values, over)).toEqual({
      data: { source: { kind: 'folder', name: 'mnist', split: 'test', path: 'x' } },
    });
  });

  it('reports where every value came from; a replaced branch forgets the old layer', () => {
    const { config, origins } = resolveConfigWithOrigins(s, [
      preset,
      { source: 'flag --data', values: { data: { source: { kind: 'folder', path: 'imgs' } } } },
      { source: 'flag --batch-size', values: { data: { batchSize: 2 } } },
    ]);
    expect(config.data.batchSize).toBe(2);
    expect(origins).toEqual({
      'data.source.kind': 'flag --data',
      'data.source.path': 'flag --data',
      'data.source.missingCaption': 'default',
      'data.batchSize': 'flag --batch-size',
      'optimizer.lr': 'default',
    });
  });

  it('suggests the closest key for a misspelt one and names the layer', () => {
    expect(() => resolveConfig(s, [preset, { source: 'my.json', values: { optimiser: { lr: 1 } } }])).toThrow(
      /optimiser: unknown key, did you mean "optimizer"\? \(from my\.json\)/,
    );
    expect(() =>
      resolveConfig(s, [
        preset,
        {
          source: 'my.json',
          values: { data: { source: { kind: 'folder', path: 'a', missingCaptions: 'skip' } } },
        },
      ]),
    ).toThrow(/data\.source\.missingCaptions: unknown key, did you mean "missingCaption"\?/);
    // A missing required key of a switched branch is blamed on the layer that switched it.
    expect(() =>
      resolveConfig(s, [preset, { source: 'my.json', values: { data: { source: { kind: 'folder' } } } }]),
    ).toThrow(/data\.source\.path: .* \(from my\.json\)/);
  });

  it('didYouMean only suggests plausible misspellings', () => {
    expect(didYouMean('tokenise', ['tokenize', 'train', 'reconstruct'])).toBe('tokenize');
    expect(didYouMean('ouput', ['out', 'output-dir', 'steps'])).toBe('out');
    expect(didYouMean('zebra', ['tokenize', 'train'])).toBeUndefined();
  });

  it('drops a top-level $schema from JSON config files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qlip-config-'));
    writeFileSync(join(dir, 'c.json'), '{"$schema": "./x.schema.json", "lr": 1}');
    expect(readJsonConfig(join(dir, 'c.json'))).toEqual({ lr: 1 });
  });
});
