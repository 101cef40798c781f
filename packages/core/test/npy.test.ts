import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { npyHeader, readNpy, writeNpy } from '../src/index.js';

function hasNumpy(): boolean {
  try {
    execFileSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const dir = mkdtempSync(join(tmpdir(), 'qlip-npy-'));

describe('.npy', () => {
  it('pads the header so data starts on a 64-byte boundary', () => {
    for (const shape of [[1], [3, 4, 4], [100000, 32, 32]])
      expect(npyHeader('uint32', shape).length % 64).toBe(0);
    expect(npyHeader('float16', [5]).toString('latin1')).toContain(
      "{'descr': '<f2', 'fortran_order': False, 'shape': (5,), }",
    );
  });

  it('round-trips uint32 tokens including values past 2^31', async () => {
    const data = Uint32Array.from([0, 1, 2 ** 31, 2 ** 32 - 1, 7, 8]);
    await writeNpy(join(dir, 'a.npy'), { dtype: 'uint32', shape: [3, 1, 2], data });
    const back = await readNpy(join(dir, 'a.npy'));
    expect(back.shape).toEqual([3, 1, 2]);
    expect(Array.from(back.data as Uint32Array)).toEqual(Array.from(data));
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('refuses data that does not fit the shape or dtype', async () => {
    await expect(
      writeNpy(join(dir, 'b.npy'), { dtype: 'uint32', shape: [2, 2], data: new Uint32Array(3) }),
    ).rejects.toThrow(/b\.npy: data has 3 elements but shape \[2,2\] needs 4/);
    await expect(
      writeNpy(join(dir, 'c.npy'), { dtype: 'float32', shape: [2], data: new Uint16Array(2) }),
    ).rejects.toThrow(/Uint16Array does not hold float32/);
  });

  it('rejects files that are not .npy or are truncated', async () => {
    writeFileSync(join(dir, 'bad.npy'), 'hello world');
    await expect(readNpy(join(dir, 'bad.npy'))).rejects.toThrow(/bad\.npy: not a \.npy file/);
    const good = Buffer.concat([npyHeader('float32', [4]), Buffer.alloc(8)]);
    writeFileSync(join(dir, 'short.npy'), good);
    await expect(readNpy(join(dir, 'short.npy'))).rejects.toThrow(
      /short\.npy: shape \[4\] needs 16 data bytes, file has 8/,
    );
  });

  it.skipIf(!hasNumpy())('is read and written by NumPy', async () => {
    await writeNpy(join(dir, 't.npy'), {
      dtype: 'uint32',
      shape: [2, 2, 2],
      data: Uint32Array.from([0, 1, 2, 3, 4, 5, 6, 4294967295]),
    });
    const out = execFileSync('python3', [
      '-c',
      `import numpy as np; a = np.load(${JSON.stringify(join(dir, 't.npy'))}); print(a.dtype, a.shape, int(a.sum()), int(a[1,1,1]))
np.save(${JSON.stringify(join(dir, 'np.npy'))}, np.arange(6, dtype=np.float16).reshape(2, 3) / 4)`,
    ]).toString();
    expect(out.trim()).toBe('uint32 (2, 2, 2) 4294967316 4294967295');
    const back = await readNpy(join(dir, 'np.npy'));
    expect(back.dtype).toBe('float16');
    expect(back.shape).toEqual([2, 3]);
    // 0.25 in half precision is 0x3400.
    expect((back.data as Uint16Array)[1]).toBe(0x3400);
  });
});
