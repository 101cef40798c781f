import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseQLIPConfig, qlipSpecs } from '@qlip/model';
import { presetLayer, resolveTrainConfig } from '@qlip/trainer';
import { describe, expect, it } from 'vitest';
import {
  BENCH_S,
  BENCH_S_EXPECTED_PARAMS,
  BENCH_S_OPTIMIZER,
  BENCH_TINY,
  benchConfig,
  paramGroup,
} from '../src/preset.js';
import { countParams } from '../src/run.js';

const spec = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../../fixtures/bench-s.json', import.meta.url)), 'utf8'),
);

describe('bench-s preset', () => {
  it('matches every number of fixtures/bench-s.json it uses', () => {
    expect(BENCH_S.imageSize).toBe(spec.image.size);
    expect(BENCH_S.patchSize).toBe(spec.patch_embed.patch_size);
    expect(BENCH_S.width).toBe(spec.vision_encoder.width);
    expect(BENCH_S.visionDepth).toBe(spec.vision_encoder.depth);
    expect(BENCH_S.heads).toBe(spec.vision_encoder.heads);
    expect(BENCH_S.mlpHidden).toBe(spec.vision_encoder.mlp_hidden);
    expect(BENCH_S.decoderDepth).toBe(spec.decoder.depth);
    expect(spec.decoder.width).toBe(BENCH_S.width);
    expect(BENCH_S.bits).toBe(spec.bottleneck.bsq.bits);
    expect(BENCH_S.groupSize).toBe(spec.bottleneck.bsq.entropy.group_size);
    expect(BENCH_S.textWidth).toBe(spec.text_encoder.width);
    expect(BENCH_S.textDepth).toBe(spec.text_encoder.depth);
    expect(BENCH_S.textHeads).toBe(spec.text_encoder.heads);
    expect(BENCH_S.textMlpHidden).toBe(spec.text_encoder.mlp_hidden);
    expect(BENCH_S.contextLength).toBe(spec.text_encoder.context_length);
    expect(BENCH_S.vocabSize).toBe(spec.text_encoder.vocab_size);
    expect(BENCH_S.projectionDim).toBe(spec.text_encoder.projection.out);
    expect(BENCH_S.batch).toBe(spec.benchmark.batch);
    const c = parseQLIPConfig(benchConfig());
    expect(c.vision_config.quantizer_cfg.inv_temperature).toBe(spec.bottleneck.bsq.entropy.inv_temperature);
    expect(c.logit_scale_init_value).toBe(spec.logit_scale.init);
    expect(c.vision_config.layer_norm_eps).toBe(spec.block.layernorm_eps);
    expect(BENCH_S_OPTIMIZER).toEqual({
      lr: spec.optimizer.lr,
      beta1: spec.optimizer.betas[0],
      beta2: spec.optimizer.betas[1],
      eps: spec.optimizer.eps,
      weightDecay: spec.optimizer.weight_decay,
    });
    expect(BENCH_S_EXPECTED_PARAMS).toEqual(spec.expected.params);
  });

  it("is the model, optimizer and loss weights of the trainer's bench-s preset (one definition)", () => {
    const t = resolveTrainConfig([presetLayer('bench-s')]);
    expect(parseQLIPConfig(t.model)).toEqual(parseQLIPConfig(benchConfig()));
    expect(t.data.imageSize).toBe(spec.image.size);
    expect(t.optimizer).toMatchObject({
      lr: spec.optimizer.lr,
      betas: spec.optimizer.betas,
      eps: spec.optimizer.eps,
      weightDecay: spec.optimizer.weight_decay,
    });
    expect(t.loss.stage1.weights).toEqual(spec.stage1_loss.weights);
    expect(t.data.batchSize * t.optimizer.gradAccum).toBe(spec.benchmark.batch);
  });

  it('builds a valid official config: plain GELU MLP, no rope, BSQ with the l2-normalised MLP bottleneck', () => {
    const c = parseQLIPConfig(benchConfig());
    for (const s of [c.vision_config, c.decoder_config, c.text_config]) {
      expect(s).toMatchObject({ swiglu: false, subln: false, rope: false, hidden_act: 'gelu' });
    }
    expect(c.vision_config).toMatchObject({
      quantizer: 'bsq',
      quantizer_l2_norm: true,
      quantizer_embed_type: 'mlp',
    });
    expect(c.vision_config.quantizer_cfg).toMatchObject({
      embed_dim: 18,
      group_size: 9,
      l2_norm: true,
      beta: 0,
    });
    expect(c.text_config.eos_token_id).toBe(spec.text_encoder.eot_token);
    expect(c.text_config.bos_token_id).toBe(spec.text_encoder.sot_token);
    expect(c.vision_projection_bias).toBe(false);
    expect(c.text_projection_bias).toBe(false);
  });

  it('has bench-s parameter counts except the two extra Linear(256->256) of the official bottleneck MLP', () => {
    const ours = countParams(BENCH_S);
    const extra = 2 * (256 * 256 + 256);
    for (const [group, n] of Object.entries(BENCH_S_EXPECTED_PARAMS)) {
      if (group === 'bottleneck') expect(ours[group]).toBe(n + extra);
      else if (group === 'total') expect(ours.total).toBe(n + extra);
      else expect(ours[group]).toBe(n);
    }
  });

  it('assigns every parameter of the tiny model to a group and rejects unknown names', () => {
    const specs = qlipSpecs(parseQLIPConfig(benchConfig(BENCH_TINY)));
    expect(new Set(specs.map((s) => paramGroup(s.name)))).toEqual(
      new Set(['logit_scale', 'text_encoder', 'vision_encoder', 'bottleneck', 'decoder', 'image_embedding']),
    );
    expect(() => paramGroup('discriminator.conv.weight')).toThrow(/discriminator\.conv\.weight/);
  });
});
