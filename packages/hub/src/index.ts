// Hub ids, settings from the environment, the Hugging Face cache (layout shared with Python huggingface_hub)

export { hubIdFromCachePath, repoCacheDir } from './cache.js';
export { hubSettings } from './env.js';
export { parseHubId } from './id.js';

// Downloading, and resolving `--model` values

export { type DownloadOptions, type DownloadResult, downloadModel } from './download.js';
export { resolveModel } from './resolve.js';

// Model cards

export { licenseNotice, type ModelCard, parseModelCard, readModelCard } from './card.js';
