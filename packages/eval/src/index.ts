// Images

export type { Image } from './image.js';

// Reconstruction metrics

export { psnr, psnrSet } from './psnr.js';
export { gaussianTaps, ssim, ssimSet } from './ssim.js';

// Codebook

export { bitsPerImage, codebookUsage, compressionRatio } from './codebook.js';

// Frechet distance

export {
  FeatureStatsAccumulator,
  featureStats,
  frechetDistance,
  frechetDistanceFromStats,
  traceSqrtProduct,
} from './frechet.js';

// Zero-shot classification

export { fillTemplates, OPENAI_IMAGENET_TEMPLATES } from './templates.js';
export {
  argmaxRows,
  confusionMatrix,
  cosineScores,
  ensemblePrompts,
  perClassAccuracy,
  type Rows,
  topKAccuracy,
  zeroShotEvaluate,
} from './zeroshot.js';

// Reports

export { confusionMatrixPng, confusionMatrixSvg } from './report/confusion.js';
export { gridUpscale, reconstructionGridPng } from './report/grid.js';
export { formatNumber, markdownTable, renderMarkdownReport, writeMarkdownReport } from './report/markdown.js';

// Evaluation jobs (a model runtime + a dataset -> results and reports)

export * from './jobs/index.js';
