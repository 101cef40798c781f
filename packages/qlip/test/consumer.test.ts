import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { mnistDigits } from './mnist.js';

const pkg = fileURLToPath(new URL('..', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'qlip-consumer-'));

/**
 * As an outside project uses the package: Node resolves `qlip` through its package.json "exports" (the
 * built dist/, default conditions; no source paths, no deep imports), and tsc checks a consumer against the
 * published types.
 */
describe('qlip as a dependency', () => {
  it('the README ten-line program classifies a digit', async () => {
    expect(existsSync(join(pkg, 'dist', 'index.js'))).toBe(true); // `pnpm build` first (turbo does)
    const digits = await mnistDigits(2);
    const lines = digits.map((d, i) => {
      const file = join(tmp, `digit-${i}.png`);
      writeFileSync(file, d.png);
      return execFileSync(process.execPath, [join(pkg, 'examples', 'classify.mjs'), file], {
        cwd: pkg,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      }).trim();
    });
    expect(lines.map((l) => /: (\w+) \(\d+\.\d%\)$/.exec(l)?.[1])).toEqual(digits.map((d) => d.label));
  });

  it('exposes only its entry point, with types a consumer compiles against', () => {
    const deep = `import('qlip/dist/qlip.js').then(() => console.log('reachable'), (e) => console.log(e.code))`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', deep], {
      cwd: pkg,
      encoding: 'utf8',
    });
    expect(out.trim()).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
    const tsc = join(pkg, '..', '..', 'node_modules', '.bin', 'tsc');
    const args = [
      '--noEmit',
      '--strict',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2022',
    ];
    execFileSync(tsc, [...args, '--types', 'node', '--skipLibCheck', join(pkg, 'examples', 'tokens.ts')], {
      cwd: pkg,
      encoding: 'utf8',
    });
  });
});
