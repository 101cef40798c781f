import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runCollecting } from './child.js';

/** The PyTorch peer's figures, measured in this run (the bench-s model, `threads` threads). */
export interface PeerFigures {
  threads: number;
  tokenizeImagesPerSec: number;
  reconstructImagesPerSec: number;
  textPromptsPerSec: number;
  trainStepMs: number;
  trainBatch: number;
  /** Peak RSS after the train step (MiB, includes the torch/OpenBLAS libraries). */
  peakRssMiB: number | null;
  /**
   * The BLAS torch loaded, e.g. `openblas (SkylakeX)`. Anything else is Debian's reference BLAS, 10-50x slower
   * than OpenBLAS: not a fair peer (`apt-get install libopenblas0-pthread`).
   */
  blas: string;
}

/** The peer's entry in a bench result: measured in this run, or why not (then no ratio is printed). */
export type PeerEntry =
  | ({ measured: true; python: string; script: string; wallSec: number } & PeerFigures)
  | { measured: false; reason: string };

/** `../shared/bench/torch_peer.py` beside the repository (from src/ or dist/ of this package). */
export const DEFAULT_PEER_SCRIPT = fileURLToPath(
  new URL('../../../../shared/bench/torch_peer.py', import.meta.url),
);

function num(o: unknown, path: string[]): number {
  let v: unknown = o;
  for (const k of path) v = (v as Record<string, unknown> | undefined)?.[k];
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new Error(`the peer's JSON has no number at ${path.join('.')}`);
  return v;
}

/** The figures this bench compares, from the one JSON object torch_peer.py prints. */
export function parsePeerOutput(json: unknown, threads: number): PeerFigures {
  let rss: number | null = null;
  try {
    rss = num(json, ['peak_rss_mib', 'after_train']);
  } catch {}
  return {
    threads,
    tokenizeImagesPerSec: num(json, ['tokenize', 'images_per_s']),
    reconstructImagesPerSec: num(json, ['reconstruct', 'images_per_s']),
    textPromptsPerSec: num(json, ['text_embed', 'prompts_per_s']),
    trainStepMs: num(json, ['train_step', 'ms_median']),
    trainBatch: num(json, ['train_step', 'batch']),
    peakRssMiB: rss,
    blas: blasOf(json),
  };
}

function blasOf(json: unknown): string {
  const sw = (json as { software?: { blas?: unknown; openblas_core?: unknown } } | null)?.software;
  if (sw?.blas !== 'openblas') {
    return 'not OpenBLAS (the reference BLAS is 10-50x slower: Debian apt-get install libopenblas0-pthread)';
  }
  return typeof sw.openblas_core === 'string' ? `openblas (${sw.openblas_core})` : 'openblas';
}

export interface PeerOptions {
  /** torch_peer.py (default `$QLIP_TORCH_PEER`, else `DEFAULT_PEER_SCRIPT`). */
  script?: string;
  /** A Python with torch (default `$QLIP_PYTHON`, else `/usr/bin/python3`, else `python3`). */
  python?: string;
  threads?: number;
  timeoutMs?: number;
}

/**
 * The peer's own flags for `threads`: above one thread it runs with `--omp-wait-policy passive`, which its
 * notes measure as clearly faster on a 2-vCPU machine (idle libgomp threads stop spinning against OpenBLAS's
 * worker), so the many-thread comparison is against PyTorch's best, not its default.
 */
function peerArgs(script: string, threads: number): string[] {
  const args = [script, '--threads', String(threads)];
  return threads > 1 ? [...args, '--omp-wait-policy', 'passive'] : args;
}

/**
 * Runs the PyTorch peer in a child process on this machine, now, and returns its figures; without the
 * script or a Python that has torch, says why (`measured: false`), and the bench prints no ratio.
 */
export async function runTorchPeer(onProgress: (m: string) => void, o: PeerOptions = {}): Promise<PeerEntry> {
  const script = o.script ?? process.env.QLIP_TORCH_PEER ?? DEFAULT_PEER_SCRIPT;
  if (!existsSync(script))
    return { measured: false, reason: `${script} does not exist (set QLIP_TORCH_PEER)` };
  const python =
    o.python ?? process.env.QLIP_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
  const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8', timeout: 120_000 });
  if (probe.error || probe.status !== 0) {
    return {
      measured: false,
      reason: `${python} cannot import torch (Debian: apt-get install python3-torch; or set QLIP_PYTHON)`,
    };
  }
  const threads = o.threads ?? 1;
  const args = peerArgs(script, threads);
  onProgress(`pytorch peer: ${python} ${args.join(' ')}`);
  const t0 = performance.now();
  const run = await runCollecting(python, args, {
    timeout: o.timeoutMs ?? 1_800_000,
  });
  if ('error' in run) return { measured: false, reason: `${python} ${script}: ${run.error.message}` };
  try {
    if (run.code !== 0) throw new Error(`exit code ${run.code}: ${run.err.trim().split('\n').at(-1) ?? ''}`);
    const figures = parsePeerOutput(JSON.parse(run.out), threads);
    const wallSec = Math.round((performance.now() - t0) / 100) / 10;
    return { measured: true, python, script, wallSec, ...figures };
  } catch (e) {
    return { measured: false, reason: `${script}: ${(e as Error).message}` };
  }
}
