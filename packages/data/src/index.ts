// Types

// Config and entry point
export {
  AugmentSchema,
  BUILTIN_DATASETS,
  type CreateDatasetOptions,
  createDataset,
  createSource,
  type DataConfig,
  type DataConfigInput,
  DataConfigSchema,
  parseDataConfig,
  type SourceConfig,
  SourceSchema,
  sourceFromSpec,
} from './config.js';
// Pipeline
export {
  checkPosition,
  collate,
  DEFAULT_PIPELINE,
  emptyStats,
  epochSamples,
  ImageTextDataset,
  type PipelineOptions,
  type PositionedSample,
  positionedSamples,
} from './dataset.js';
export { PoolError, PreprocessPool } from './image/pool.js';
// Images
export {
  type AugmentOptions,
  augmentImage,
  type CropBox,
  cropRect,
  DEFAULT_AUGMENT,
  flipHorizontal,
  type PreprocessJob,
  preprocessSampleImage,
  randomResizedCropBox,
} from './image/transform.js';
export { batch, take } from './pipeline/batch.js';
export { mapOrdered, prefetch } from './pipeline/concurrency.js';
export { deriveSeed, STREAM, streamRng } from './pipeline/seed.js';
export { shuffleBuffer } from './pipeline/shuffle.js';
// Sources
export {
  type ClassFolderOptions,
  classFolderClassNames,
  classFolderSource,
  listClassDirs,
} from './sources/class-folder.js';
export type { DetectedSource, DetectSourceOptions } from './sources/detect.js';
export {
  EMOJI_TEMPLATES,
  type EmojiEntry,
  type EmojiOptions,
  emojiSource,
  loadEmojiEntries,
} from './sources/emoji.js';
export { isImageExtension, isSafeRelativePath } from './sources/files.js';
export { epochOrder, type FolderSourceOptions, folderSource } from './sources/folder.js';
export {
  type ManifestFormat,
  type ManifestRow,
  manifestFormat,
  manifestSource,
  parseManifest,
} from './sources/manifest.js';
export {
  MNIST_CLASS_NAMES,
  MNIST_TEMPLATES,
  type MnistOptions,
  mnistSource,
  parseIdxImages,
  parseIdxLabels,
} from './sources/mnist.js';
export { captionFor, DEFAULT_CLASS_TEMPLATES, fillTemplate, readTemplateFile } from './sources/templates.js';
export {
  expandShards,
  isShardUrl,
  type ReadShardOptions,
  readShard,
  splitEntryName,
  webDatasetSource,
} from './sources/webdataset.js';
export type {
  Batch,
  DataPosition,
  DataStats,
  ProcessedSample,
  RgbImage,
  Sample,
  SampleSource,
  SkipEvent,
  SkipListener,
  SkipReason,
  SourceContext,
} from './types.js';
export { SKIP_REASONS } from './types.js';
