// Configuration views (official snake_case fields)

// Bottleneck (quant_embed -> BSQ -> quant_embed_post)
export { bottleneckSpecs, quantEmbed, quantEmbedPost, quantize } from './bottleneck.js';
export { bottleneckBits, type DecoderConfig, gridSize, type VisionConfig } from './config.js';
// Pixel decoder
export { DECODER_PREFIX, decoder, decoderSpecs } from './decoder.js';
// Patches
export { patchify, unpatchify } from './patches.js';
// Vision encoder
export { VISION_PREFIX, type VisionOutput, visionEmbeddings, visionEncoder, visionSpecs } from './vision.js';
