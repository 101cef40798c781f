import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { type DownloadOptions, type DownloadResult, downloadModel } from './download.js';
import { parseHubId } from './id.js';

/** A model directory on disk, and where it came from. */
export interface ResolvedModel {
  /** Folder with config.json and the weights. */
  dir: string;
  /** What to call it: the path as given, or `org/name@commit` for a hub model. */
  name: string;
  source: 'local' | 'hub';
  /** For a hub model: what the download did. */
  download?: DownloadResult;
}

/**
 * `--model`/`--init` values: an existing directory is used as it is; otherwise `org/name[@revision]` is a
 * Hugging Face hub id, fetched into (or found in) the Hugging Face cache. `opts.revision` overrides the
 * id's `@revision`.
 */
export async function resolveModel(spec: string, opts: DownloadOptions = {}): Promise<ResolvedModel> {
  if (existsSync(spec)) {
    if (!statSync(spec).isDirectory()) {
      throw new Error(`${spec}: a model is a directory (config.json + model.safetensors), not a file`);
    }
    // Its contents are the loader's to check (QLIP, CLIP-style, a trainer checkpoint...).
    return { dir: resolve(spec), name: spec, source: 'local' };
  }
  const id = parseHubId(spec);
  if (!id) {
    throw new Error(
      `${spec}: no such model directory, and not a Hugging Face hub id (org/name or org/name@revision)`,
    );
  }
  const revision = opts.revision ?? id.revision;
  const download = await downloadModel(id.repo, { ...opts, ...(revision ? { revision } : {}) });
  return { dir: download.path, name: `${id.repo}@${download.commit.slice(0, 12)}`, source: 'hub', download };
}
