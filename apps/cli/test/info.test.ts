import { fileURLToPath } from 'node:url';
import { runCommand } from '@oclif/test';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('qlip info', () => {
  it('reports the backend as JSON on stdout', async () => {
    const { stdout, error } = await runCommand(['info', '--json', '--backend', 'cpu'], { root });
    expect(error).toBeUndefined();
    const result = JSON.parse(stdout);
    expect(result.backend.name).toBe('cpu');
    expect(result.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('rejects an unknown backend with the valid choices', async () => {
    const { error } = await runCommand(['info', '--backend', 'gpu'], { root });
    expect(error?.message).toMatch(/Expected --backend=gpu to be one of: auto, tensorflow, wasm, cpu/);
  });

  it('lists commands in --help', async () => {
    const { stdout } = await runCommand(['--help'], { root });
    expect(stdout).toMatch(/info\s+Show the qlip version/);
  });
});
