// Images

// Codebook
export { bitsPerImage, type CodebookUsage, codebookUsage, compressionRatio } from './codebook.js';
// Frechet distance
export {
  type FeatureSet,
  type FeatureStats,
  FeatureStatsAccumulator,
  featureStats,
  frechetDistance,
  frechetDistanceFromStats,
  traceSqrtProduct,
} from './frechet.js';
export { checkImage, checkPair, type Image } from './image.js';
// Evaluation jobs (a model runtime + a dataset -> results and reports)
export * from './jobs/index.js';
// Reconstruction metrics
export { mse, psnr, psnrSet } from './psnr.js';
export { type ConfusionPlotOptions, confusionMatrixPng, confusionMatrixSvg } from './report/confusion.js';
export { type GridOptions, gridUpscale, reconstructionGridPng } from './report/grid.js';
// Reports
export {
  type EvalReport,
  formatNumber,
  markdownTable,
  renderMarkdownReport,
  writeMarkdownReport,
} from './report/markdown.js';
export { gaussianTaps, type SsimOptions, ssim, ssimSet } from './ssim.js';
export { fillTemplates, OPENAI_IMAGENET_TEMPLATES } from './templates.js';
// Zero-shot classification
export {
  argmaxRows,
  confusionMatrix,
  cosineScores,
  ensemblePrompts,
  l2NormalizeRows,
  perClassAccuracy,
  type Rows,
  topKAccuracy,
  type ZeroShotResult,
  zeroShotEvaluate,
} from './zeroshot.js';
