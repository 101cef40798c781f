import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REFERENCE_FIXTURE } from '@qlip/test-utils';
import { describe, expect, it } from 'vitest';
import { parseQLIPConfig, readQLIPConfig } from '../src/index.js';

const fixtureJson = async () =>
  JSON.parse(await readFile(`${REFERENCE_FIXTURE}config.json`, 'utf8')) as Record<string, unknown>;

describe('QLIP config.json schema', () => {
  it('parses the official fixture config unchanged (every key kept, nothing added)', async () => {
    const json = await fixtureJson();
    const cfg = await readQLIPConfig(`${REFERENCE_FIXTURE}config.json`);
    expect(JSON.parse(JSON.stringify(cfg))).toEqual(json);
    expect(cfg.vision_config.quantizer_cfg.embed_dim).toBe(8);
    expect(cfg.text_config.eos_token_id).toBe(49407);
  });

  it('fills the official class defaults for absent keys', () => {
    const cfg = parseQLIPConfig({});
    expect(cfg.projection_dim).toBe(512);
    expect(cfg.logit_scale_init_value).toBe(2.6592);
    expect(cfg.vision_projection_bias).toBe(false);
    expect(cfg.text_config).toMatchObject({
      hidden_size: 512,
      intermediate_size: 2048,
      num_attention_heads: 8,
      vocab_size: 49408,
      max_position_embeddings: 77,
      eos_token_id: 49407,
    });
    expect(cfg.vision_config).toMatchObject({
      hidden_size: 768,
      image_size: 224,
      patch_size: 32,
      quantizer: 'none',
      hidden_size_post_q: 768,
    });
    expect(cfg.vision_config.quantizer_cfg).toMatchObject({
      embed_dim: 18,
      group_size: 9,
      l2_norm: true,
      inv_temperature: 100,
    });
  });

  it('keeps unknown keys at every level so a config round-trips', () => {
    const cfg = parseQLIPConfig({
      transformers_version: '4.37.0',
      vision_config: { my_flag: [1, 2], quantizer_cfg: { zeta: 0.5 } },
      text_config: { extra: 'x' },
    });
    const again = parseQLIPConfig(JSON.parse(JSON.stringify(cfg)));
    expect(again).toEqual(cfg);
    expect((cfg as Record<string, unknown>).transformers_version).toBe('4.37.0');
    expect((cfg.vision_config as Record<string, unknown>).my_flag).toEqual([1, 2]);
    expect(cfg.vision_config.quantizer_cfg.zeta).toBe(0.5);
    expect((cfg.text_config as Record<string, unknown>).extra).toBe('x');
  });

  it.each([
    [{ vision_config: { patch_size: '8' } }, /my\.json: vision_config\.patch_size: .*number/],
    [{ text_config: { hidden_act: 'gelu_fast' } }, /my\.json: text_config\.hidden_act: /],
    [{ vision_config: { quantizer: 'fsq' } }, /my\.json: vision_config\.quantizer: /],
    [
      { vision_config: { quantizer_cfg: { persample_entropy_compute: 'exact' } } },
      /vision_config\.quantizer_cfg\.persample_entropy_compute/,
    ],
    [{ projection_dim: 0 }, /my\.json: projection_dim: /],
    [
      { text_config: { hidden_size: 30, num_attention_heads: 4 } },
      /my\.json: text_config\.hidden_size: 30 is not divisible by num_attention_heads \(4\)/,
    ],
    [
      {
        vision_config: { hidden_size: 24, num_attention_heads: 4, rope: true },
        decoder_config: { hidden_size: 24 },
      },
      /vision_config\.rope: needs a head dimension divisible by 4/,
    ],
    [
      { vision_config: { image_size: 30, patch_size: 8 }, decoder_config: { image_size: 30, patch_size: 8 } },
      /vision_config\.image_size: 30 is not a multiple of patch_size \(8\)/,
    ],
    [
      { decoder_config: { patch_size: 16 } },
      /decoder_config\.patch_size: 16 must equal vision_config\.patch_size \(32\)/,
    ],
    [
      { vision_config: { quantizer_embed_type: 'mlp', hidden_size_post_q: 64 } },
      /decoder_config\.hidden_size: 768 must equal vision_config\.hidden_size_post_q \(64\)/,
    ],
    [
      { vision_config: { quantizer: 'bsq', quantizer_cfg: { embed_dim: 10, group_size: 4 } } },
      /quantizer_cfg\.embed_dim: 10 is not divisible by group_size \(4\)/,
    ],
    [
      { vision_config: { quantizer: 'bsq', quantizer_cfg: { embed_dim: 18 } } },
      /embed_dim: 18 must equal vision_config\.hidden_size \(768\) when quantizer_embed_type is "identity"/,
    ],
  ])('rejects %j naming the file and key', (json, message) => {
    expect(() => parseQLIPConfig(json, 'my.json')).toThrow(message);
  });

  it('names the file for unreadable or malformed JSON', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qlip-cfg-'));
    await writeFile(join(dir, 'config.json'), '{"vision_config": ');
    await expect(readQLIPConfig(join(dir, 'config.json'))).rejects.toThrow(
      `${join(dir, 'config.json')}: not valid JSON`,
    );
    await expect(readQLIPConfig(join(dir, 'nope.json'))).rejects.toThrow(
      `${join(dir, 'nope.json')}: cannot read QLIP config`,
    );
  });
});
