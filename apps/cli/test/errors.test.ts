import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Issue 14 item 5: the errors a new user meets, through the real `qlip` bin with stdout/stderr piped.
const BIN = fileURLToPath(new URL('../bin/run.js', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function qlip(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: opts.cwd, env: { ...process.env, CI: '1', ...opts.env } },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('errors a new user meets', () => {
  it('a flag error under --json is one JSON object on stdout, exit 2, with the flag meant', async () => {
    const r = await qlip(['train', '--ouput', 'runs/x', '--json']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toEqual({
      error: {
        message: 'Nonexistent flag: --ouput (did you mean --out?)',
        code: 'unknown_flag',
        exit: 2,
        suggestions: ['--out'],
      },
    });
    const bad = await qlip(['train', '--steps', 'many', '--json']);
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stdout).error).toEqual({
      message: 'Parsing --steps: Expected an integer but received: many',
      code: 'usage',
      exit: 2,
    });
    const plain = await qlip(['train', '--ouput', 'y']);
    expect(plain.code).toBe(2);
    expect(plain.stdout).toBe('');
    expect(plain.stderr).toMatch(/did you mean --out\?/);
  });

  it('a misspelt command: did you mean, plain and --json, exit 2', async () => {
    const plain = await qlip(['tokenise', 'photos/', '--out', 'tokens/']);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toBe(
      'Error: "tokenise" is not a qlip command; did you mean "tokenize"? (qlip --help lists them)\n',
    );
    const json = await qlip(['eval', 'zero-shoot', '--json']);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout).error).toMatchObject({
      code: 'unknown_command',
      exit: 2,
      suggestions: ['eval zero-shot'],
    });
  });

  it('a misspelt config key: did you mean, naming the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qlip-cli-errors-'));
    writeFileSync(join(dir, 'c.json'), JSON.stringify({ optimiser: { lr: 0.01 } }));
    const r = await qlip(['train', '--config', join(dir, 'c.json'), '--print-config', '--json']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout).error.message).toMatch(
      /optimiser: unknown key, did you mean "optimizer"\? \(from .*c\.json\)/,
    );
  });

  it('piped errors are not wrapped at 80 columns (paths stay whole)', async () => {
    const long = join(
      tmpdir(),
      'a-rather-long-folder-name-for-my-training-images',
      'that-does-not-exist',
      'x',
    );
    const r = await qlip(['train', '--data', long, '--print-config']);
    expect(r.code).toBe(2);
    const line = r.stderr.split('\n').find((l) => l.startsWith('Error: '));
    expect(line).toContain(`--data '${long}': no such file or folder (resolved to '${long}')`);
    expect(line!.length).toBeGreaterThan(80);
  });

  it("through `pnpm qlip`, relative paths are the caller's (INIT_CWD), not the repository root", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qlip-cli-cwd-'));
    mkdirSync(join(dir, 'imgs', 'cats'), { recursive: true });
    mkdirSync(join(dir, 'imgs', 'dogs'), { recursive: true });
    writeFileSync(join(dir, 'imgs', 'cats', 'a.png'), '');
    writeFileSync(join(dir, 'imgs', 'dogs', 'b.png'), '');
    const env = { npm_lifecycle_event: 'qlip', INIT_CWD: dir };
    const r = await qlip(['train', '--data', 'imgs', '--print-config', '--json'], { cwd: tmpdir(), env });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).config.data.source).toMatchObject({
      kind: 'classFolder',
      path: join(dir, 'imgs'),
    });
  });
});
