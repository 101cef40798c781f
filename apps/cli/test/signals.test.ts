import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';

// Issue 13 item 11: real processes (the built `qlip` bin), real signals, real exit statuses.
const BIN = fileURLToPath(new URL('../bin/run.js', import.meta.url));
let root: string;
let many: string;
const IMAGES = 80;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `qlip args`; `signalWhen` sends a signal once the predicate holds (polled every 20 ms). */
function qlip(args: string[], signalWhen?: { sig: NodeJS.Signals; when: () => boolean }): Promise<Run> {
  const child: ChildProcess = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, CI: '1', QLIP_BACKEND: 'wasm' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  let timer: NodeJS.Timeout | undefined;
  if (signalWhen) {
    timer = setInterval(() => {
      if (signalWhen.when()) {
        clearInterval(timer);
        child.kill(signalWhen.sig);
      }
    }, 20);
  }
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearInterval(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'qlip-cli-signals-'));
  many = join(root, 'many');
  mkdirSync(many);
  for (let i = 0; i < IMAGES; i++) {
    const px = Buffer.alloc(28 * 28 * 3, (i * 7) % 256);
    await sharp(px, { raw: { width: 28, height: 28, channels: 3 } })
      .png()
      .toFile(join(many, `d${String(i).padStart(3, '0')}.png`));
  }
});

/** True once the dataset at `out` has at least one finished part (the run is under way). */
const started = (out: string) => () =>
  existsSync(join(out, 'parts')) && readdirSync(join(out, 'parts')).some((p) => !p.startsWith('.'));

describe('signals and exit statuses', () => {
  it('tokenize stopped by SIGTERM / SIGHUP / SIGINT: says so, saves, exits 143 / 129 / 130 (--json result still printed); the rerun resumes', async () => {
    const cases = [
      ['SIGTERM', 143, true],
      ['SIGHUP', 129, false],
      ['SIGINT', 130, true],
    ] as const;
    const runs = await Promise.all(
      cases.map(([sig, , json]) => {
        const out = join(root, `tok-${sig}`);
        const args = ['tokenize', many, '--out', out, '--batch-size', '1', '--shard-size', '1'];
        return qlip(json ? [...args, '--json'] : args, { sig, when: started(out) });
      }),
    );
    for (const [i, [sig, code, json]] of cases.entries()) {
      const r = runs[i]!;
      expect(r.code, r.stderr).toBe(code);
      expect(r.stderr).toContain(`${sig} received: finishing the current batch and saving`);
      expect(r.stderr).toContain(`stopped by ${sig}: exit status ${code}`);
      if (json) {
        const res = JSON.parse(r.stdout);
        expect(res.interrupted).toBe(true);
        expect(res.total).toBeLessThan(IMAGES);
      }
      expect(existsSync(join(root, `tok-${sig}`, '.qlip.lock'))).toBe(false);
    }
    const again = await qlip(['tokenize', many, '--out', join(root, 'tok-SIGTERM'), '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ total: IMAGES, interrupted: false });
  });

  it('--strict exits 2 with and without --json', async () => {
    const dir = join(root, 'strict');
    mkdirSync(dir);
    await sharp(Buffer.alloc(28 * 28 * 3, 9), { raw: { width: 28, height: 28, channels: 3 } })
      .png()
      .toFile(join(dir, 'ok.png'));
    writeFileSync(join(dir, 'bad.png'), 'garbage');
    const [plain, json] = await Promise.all([
      qlip(['tokenize', dir, '--out', join(root, 'strict-a'), '--strict']),
      qlip(['tokenize', dir, '--out', join(root, 'strict-b'), '--strict', '--json']),
    ]);
    expect(plain.code, plain.stderr).toBe(2);
    expect(json.code, json.stderr).toBe(2);
    expect(JSON.parse(json.stdout).error.message).toMatch(/could not be read \(--strict\)/);
  });
});
