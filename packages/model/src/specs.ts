import { bottleneckSpecs, decoderSpecs, visionSpecs } from '@qlip/encoder';
import { linearSpecs, type ParamSpec } from '@qlip/nn';
import { textSpecs } from '@qlip/text-encoder';
import type { QLIPConfig } from './config.js';

/** Every parameter of a QLIPModel for `config`, official names and shapes, in the official state_dict order. */
export function qlipSpecs(config: QLIPConfig): ParamSpec[] {
  const v = config.vision_config;
  const t = config.text_config;
  return [
    {
      name: 'logit_scale',
      shape: [],
      layout: 'plain',
      init: { kind: 'constant', value: config.logit_scale_init_value },
    },
    ...textSpecs(t),
    ...visionSpecs(v),
    ...bottleneckSpecs(v),
    ...decoderSpecs(config.decoder_config),
    ...linearSpecs('visual_projection', v.hidden_size, config.projection_dim, config.vision_projection_bias),
    ...linearSpecs('text_projection', t.hidden_size, config.projection_dim, config.text_projection_bias),
  ];
}

/**
 * Checkpoint tensors that are not parameters and are skipped on load: the non-persistent-in-spirit rope
 * tables (`*.rope.freqs_cos/sin`, recomputed from the config) and HF `position_ids` buffers.
 */
export function isIgnoredBuffer(name: string): boolean {
  return /(^|\.)rope\.freqs_(cos|sin)$/.test(name) || /(^|\.)position_ids$/.test(name);
}
