import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCollecting } from './child.js';

/** The ONNX Runtime tokenize benchmark of @qlip/export, when the workspace has it. */
export type OnnxEntry =
  | { available: true; script: string; result: unknown }
  | { available: false; reason: string };

/** Where @qlip/export keeps its bench-s ONNX tokenize script, relative to this package (src/ or dist/). */
export const ONNX_SCRIPT = fileURLToPath(new URL('../../export/bench/onnx-tokenize.ts', import.meta.url));

/**
 * Runs @qlip/export's `bench/onnx-tokenize.ts` (a TypeScript script run through tsx, as that package's own
 * `pnpm bench` does) in a child process and returns the one JSON object it prints. It is a script with
 * top-level work and its own stdout, so it runs beside this process rather than being imported into it.
 * Without the script (a published install, or before it exists) the entry says "not available" and why.
 */
export async function onnxTokenize(
  onProgress: (m: string) => void,
  script = ONNX_SCRIPT,
  timeoutMs = 600_000,
): Promise<OnnxEntry> {
  if (!existsSync(script)) return { available: false, reason: `${script} does not exist` };
  onProgress(`onnx: running ${script}`);
  const run = await runCollecting(process.execPath, ['--import', 'tsx', script], {
    cwd: dirname(dirname(script)),
    timeout: timeoutMs,
  });
  if ('error' in run) return { available: false, reason: `${script}: ${run.error.message}` };
  const line = run.out.trim().split('\n').at(-1) ?? '';
  try {
    if (run.code !== 0) throw new Error(`exit code ${run.code}`);
    return { available: true, script, result: JSON.parse(line) };
  } catch (e) {
    // Node ends a crash with its version line: report the error line itself.
    const lines = run.err.split('\n').filter((l) => l.trim());
    const tail = lines.find((l) => /\bError\b/.test(l)) ?? lines.slice(-2).join(' | ');
    return { available: false, reason: `${script} failed (${(e as Error).message}): ${tail}` };
  }
}
