// Hub ids, settings from the environment, the Hugging Face cache (layout shared with Python's huggingface_hub)
export { hubIdFromCachePath, repoCacheDir } from './cache.js';
// Model cards
export { licenseNotice, type ModelCard, parseModelCard, readModelCard } from './card.js';
// Downloading, and resolving `--model` values
export { type DownloadedFile, type DownloadOptions, type DownloadResult, downloadModel } from './download.js';
export { type HubSettings, hubSettings } from './env.js';
export { type HubId, parseHubId } from './id.js';
export { type ResolvedModel, resolveModel } from './resolve.js';
