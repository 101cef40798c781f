import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Issue 13 item 11 for `qlip train`: SIGTERM / SIGHUP / SIGINT write a checkpoint, say so, and exit
// 143 / 129 / 130 (real processes, the built bin).
const BIN = fileURLToPath(new URL('../bin/run.js', import.meta.url));

/** tiny-mnist shrunk to a width-32 model on 64 digits, batch 4: a step takes a fraction of a second. */
const SMALL = {
  model: {
    vision_config: { hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1 },
    decoder_config: { hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1 },
    text_config: { hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1 },
  },
  data: { source: { kind: 'builtin', name: 'mnist', limit: 64 }, shuffleBuffer: 16, batchSize: 4 },
  checkpoint: { every: 1000 },
};

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `qlip train` and send `sig` once its metrics.jsonl has a line (the run is under way). */
function trainUntilSignal(out: string, config: string, sig: NodeJS.Signals): Promise<Run> {
  const args = [
    'train',
    '--preset',
    'tiny-mnist',
    '--config',
    config,
    '--out',
    out,
    '--steps',
    '500',
    '--json',
  ];
  const child: ChildProcess = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, CI: '1', QLIP_BACKEND: 'wasm' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const metrics = join(out, 'metrics.jsonl');
  const timer = setInterval(() => {
    if (existsSync(metrics) && readFileSync(metrics, 'utf8').length > 0) {
      clearInterval(timer);
      child.kill(sig);
    }
  }, 20);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearInterval(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

describe('qlip train and signals', () => {
  it('SIGTERM / SIGHUP / SIGINT: a note, a checkpoint at the step reached, exit 143 / 129 / 130', async () => {
    const root = mkdtempSync(join(tmpdir(), 'qlip-cli-train-signals-'));
    const config = join(root, 'small.json');
    writeFileSync(config, JSON.stringify(SMALL));
    const cases = [
      ['SIGTERM', 143],
      ['SIGHUP', 129],
      ['SIGINT', 130],
    ] as const;
    const runs = await Promise.all(cases.map(([sig]) => trainUntilSignal(join(root, sig), config, sig)));
    for (const [i, [sig, code]] of cases.entries()) {
      const r = runs[i]!;
      const out = join(root, sig);
      expect(r.code, r.stderr).toBe(code);
      expect(r.stderr).toContain(`${sig} received: finishing the current step and writing a checkpoint`);
      const result = JSON.parse(r.stdout);
      expect(result).toMatchObject({ stopped: 'aborted', steps: 500 });
      expect(result.step).toBeGreaterThan(0);
      expect(result.step).toBeLessThan(500);
      const latest = readFileSync(join(out, 'latest'), 'utf8').trim();
      expect(join(out, latest)).toBe(result.checkpoint);
      const state = JSON.parse(readFileSync(join(out, latest, 'trainer_state.json'), 'utf8'));
      expect(state.step).toBe(result.step);
      const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n');
      expect(lines).toHaveLength(result.step);
      expect(existsSync(join(out, '.qlip.lock'))).toBe(false);
    }
  });
});
