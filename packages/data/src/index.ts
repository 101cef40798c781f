// Config and the dataset entry point

export {
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
export { ImageTextDataset } from './dataset.js';

// Sources (one per data.source.kind)

export { classFolderClassNames, classFolderSource } from './sources/class-folder.js';
export { emojiSource, loadEmojiEntries } from './sources/emoji.js';
export { folderSource } from './sources/folder.js';
export { type ManifestFormat, manifestFormat, manifestSource, parseManifest } from './sources/manifest.js';
export {
  MNIST_CLASS_NAMES,
  MNIST_TEMPLATES,
  mnistDataDir,
  mnistSource,
  parseIdxImages,
  parseIdxLabels,
} from './sources/mnist.js';
export {
  expandShards,
  isShardUrl,
  readShard,
  splitEntryName,
  webDatasetSource,
} from './sources/webdataset.js';

// Image preprocessing and augmentation

export { PreprocessPool } from './image/pool.js';
export {
  augmentImage,
  cropRect,
  flipHorizontal,
  preprocessSampleImage,
  randomResizedCropBox,
} from './image/transform.js';

// Pipeline stages

export { batch, take } from './pipeline/batch.js';
export { mapOrdered, prefetch } from './pipeline/concurrency.js';
export { deriveSeed } from './pipeline/seed.js';
export { shuffleBuffer } from './pipeline/shuffle.js';

// Types

export type { Batch, DataPosition, RgbImage, Sample, SampleSource, SkipEvent } from './types.js';
