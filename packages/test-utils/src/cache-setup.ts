import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * vitest globalSetup for every package: commands export ONNX graphs into $QLIP_CACHE (--runtime auto) and
 * hub ids resolve through $HF_HOME, so a test run gets private ones, removed after it, and never writes
 * into the user's ~/.cache.
 */
export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'qlip-test-cache-'));
  process.env.QLIP_CACHE = join(dir, 'qlip');
  process.env.HF_HOME = join(dir, 'huggingface');
  return () => rmSync(dir, { recursive: true, force: true });
}
