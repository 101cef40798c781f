// Configuration views (official snake_case fields)

export type { DecoderConfig, VisionConfig } from './config.js';

// Patches

export { patchify, unpatchify } from './patches.js';

// Vision encoder

export { visionEncoder, visionSpecs } from './vision.js';

// Bottleneck (quant_embed -> BSQ -> quant_embed_post)

export { bottleneckSpecs, quantEmbed, quantEmbedPost, quantize } from './bottleneck.js';

// Pixel decoder

export { decoder, decoderSpecs } from './decoder.js';
