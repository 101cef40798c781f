import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Commands export ONNX graphs into $QLIP_CACHE (--runtime auto): a private one per test run, removed after. */
export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'qlip-cli-cache-'));
  process.env.QLIP_CACHE = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
