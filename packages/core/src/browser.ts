// The browser-safe part of @qlip/core (no Node built-ins, tfjs or sharp): the pixel arithmetic and .npy
// bytes the web page shares with the CLI, so its preprocessing gives the same token indices.

export {
  clipPreprocessParams,
  DEFAULT_MAX_PIXELS,
  denormalizeImages,
  type ImagePreprocessParams,
  normalizeImage,
  type RgbImage,
  resizeAndCrop,
  toRgb8,
} from './image/pixels.js';
export { npyBytes } from './npy-bytes.js';
export { Rng } from './rng.js';
