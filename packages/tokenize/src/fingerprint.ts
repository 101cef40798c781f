import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * SHA-256 over a model directory's `config.json` and every `*.safetensors` file (sorted by name),
 * streamed, so a tokenized dataset records exactly which weights produced it.
 */
export async function modelFingerprint(dir: string): Promise<string> {
  const files = (await readdir(dir)).filter((f) => f === 'config.json' || f.endsWith('.safetensors')).sort();
  if (!files.includes('config.json')) throw new Error(`${dir}: no config.json (not a QLIP model directory)`);
  const hash = createHash('sha256');
  for (const f of files) {
    hash.update(`${f}\0`);
    for await (const chunk of createReadStream(join(dir, f))) hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

/** SHA-256 of a buffer, hex. */
export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** SHA-256 of a file's bytes, streamed, hex. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
