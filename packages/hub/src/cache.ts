import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getRepoFolderName } from '@huggingface/hub';
import { isCommitHash } from './id.js';

/**
 * The Hugging Face cache layout (the same as Python's huggingface_hub, so either side reuses the other's
 * downloads):
 *   <cache>/models--org--name/blobs/<etag>                      file contents (sha256 for LFS files, git oid else)
 *   <cache>/models--org--name/snapshots/<commit>/<path>         relative symlink -> ../../blobs/<etag>
 *   <cache>/models--org--name/refs/<revision>                   the commit a branch or tag pointed to
 */
export function repoCacheDir(cacheDir: string, repo: string): string {
  return join(cacheDir, getRepoFolderName({ type: 'model', name: repo }));
}

/** Path of a ref file (`refs/main`, `refs/v1.0`; slashes in branch names become folders, as in Python). */
export function refPath(cacheDir: string, repo: string, revision: string): string {
  return join(repoCacheDir(cacheDir, repo), 'refs', ...revision.split('/'));
}

export function snapshotDir(cacheDir: string, repo: string, commit: string): string {
  return join(repoCacheDir(cacheDir, repo), 'snapshots', commit);
}

/** The commit a revision resolves to in the cache (without the network), or null. */
export function cachedCommit(cacheDir: string, repo: string, revision: string): string | null {
  if (isCommitHash(revision)) return revision;
  const ref = refPath(cacheDir, repo, revision);
  if (!existsSync(ref)) return null;
  const commit = readFileSync(ref, 'utf8').trim();
  return isCommitHash(commit) ? commit : null;
}

const INDEX = 'model.safetensors.index.json';

/**
 * What a QLIP model directory lacks to be loaded: `config.json` and the weights (`model.safetensors`, or
 * the index and every shard it names). Empty when complete.
 */
export function missingModelFiles(dir: string): string[] {
  const missing: string[] = [];
  if (!existsSync(join(dir, 'config.json'))) missing.push('config.json');
  if (existsSync(join(dir, 'model.safetensors'))) return missing;
  if (!existsSync(join(dir, INDEX))) return [...missing, 'model.safetensors'];
  for (const shard of shardNames(readFileSync(join(dir, INDEX), 'utf8'), join(dir, INDEX))) {
    if (!existsSync(join(dir, shard))) missing.push(shard);
  }
  return missing;
}

/** The distinct shard files a `model.safetensors.index.json` maps weights to. */
export function shardNames(indexJson: string, name = INDEX): string[] {
  let map: unknown;
  try {
    map = (JSON.parse(indexJson) as { weight_map?: unknown }).weight_map;
  } catch (err) {
    throw new Error(`${name}: not valid JSON (${(err as Error).message})`);
  }
  if (!map || typeof map !== 'object') throw new Error(`${name}: no "weight_map" object`);
  const shards = [...new Set(Object.values(map as Record<string, unknown>))];
  if (shards.some((s) => typeof s !== 'string' || s.includes('..') || s.startsWith('/'))) {
    throw new Error(`${name}: "weight_map" values must be file names inside the repository`);
  }
  return shards as string[];
}

export const SAFETENSORS_INDEX = INDEX;

/**
 * The hub id a Hugging Face cache snapshot path stands for (`…/models--org--name/snapshots/<commit>` ->
 * `org/name@<commit>`), so a path recorded on one machine can be fetched on another; null for other paths.
 */
export function hubIdFromCachePath(path: string): string | null {
  const m = /(?:^|[\\/])models--([^\\/]+?)--([^\\/]+)[\\/]snapshots[\\/]([0-9a-f]{40})[\\/]?$/.exec(path);
  return m ? `${m[1]}/${m[2]}@${m[3]}` : null;
}
