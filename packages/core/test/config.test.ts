import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { deepMerge, readJsonConfig, resolveConfig } from '../src/index.js';

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
