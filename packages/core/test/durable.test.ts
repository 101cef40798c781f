import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  cappedWriteOpener,
  readNpy,
  setWriteOpener,
  writeFileAtomic,
  writeNpy,
  writeSafetensors,
} from '../src/index.js';
import { mountTmpfs } from './tmpfs.js';

// Issue 13 item 2: a full disk must fail the write, never leave a short file under its final name.
const dir = mkdtempSync(join(tmpdir(), 'qlip-durable-'));

function withDisk<T>(capacity: number, f: () => Promise<T>): Promise<T> {
  const restore = setWriteOpener(cappedWriteOpener(capacity));
  return f().finally(restore);
}

const big = { dtype: 'float32' as const, shape: [64, 64], data: new Float32Array(64 * 64).fill(1.5) };

describe('durable writes on a full disk (size-capped writer)', () => {
  it('writeNpy: the short write is caught, nothing appears under the final name, no temp file stays', async () => {
    const path = join(dir, 'features-00003.npy');
    await expect(withDisk(10_000, () => writeNpy(path, big))).rejects.toThrow(
      /features-00003\.npy: write failed after \d+ of 16384 bytes: ENOSPC/,
    );
    expect(readdirSync(dir).filter((f) => f.includes('features-00003'))).toEqual([]);
  });

  it('writeNpy over an existing file leaves the old file intact', async () => {
    const path = join(dir, 'keep.npy');
    await writeNpy(path, { dtype: 'uint32', shape: [2], data: Uint32Array.from([7, 8]) });
    await expect(withDisk(100, () => writeNpy(path, big))).rejects.toThrow(/keep\.npy: write failed/);
    expect(Array.from((await readNpy(path)).data as Uint32Array)).toEqual([7, 8]);
  });

  it('a write that makes no progress fails instead of looping', async () => {
    const path = join(dir, 'zero.bin');
    const restore = setWriteOpener(async (p, flags) => {
      const { open } = await import('node:fs/promises');
      const fh = await open(p, flags);
      return {
        write: async () => ({ bytesWritten: 0 }),
        sync: () => fh.sync(),
        stat: () => fh.stat(),
        close: () => fh.close(),
      };
    });
    try {
      await expect(writeFileAtomic(path, ['hello'])).rejects.toThrow(
        /zero\.bin: write failed after 0 of 5 bytes: no progress/,
      );
    } finally {
      restore();
    }
    expect(existsSync(path)).toBe(false);
  });

  it('writeSafetensors: the full disk is reported naming the file and no file is left', async () => {
    const path = join(dir, 'model.safetensors');
    const tensors = new Map([
      ['w', { dtype: 'F32' as const, shape: [128, 128], data: new Float32Array(128 * 128) }],
    ]);
    await expect(withDisk(20_000, () => writeSafetensors(path, tensors))).rejects.toThrow(
      /model\.safetensors: .*write failed after \d+ of 65536 bytes/,
    );
    expect(readdirSync(dir).filter((f) => f.includes('model.safetensors'))).toEqual([]);
    await writeSafetensors(path, tensors); // and with room it works
    expect(statSync(path).size).toBeGreaterThan(65536);
  });
});

describe('durable writes on a real 1 MiB tmpfs (root only; skipped otherwise)', () => {
  const fs = mountTmpfs('1m');
  it.skipIf(!fs)(
    'writeNpy fails with ENOSPC and leaves no truncated .npy; numpy-readable after space is freed',
    async () => {
      const d = fs!.dir;
      try {
        writeFileSync(join(d, 'ballast'), Buffer.alloc(900 * 1024));
        const arr = {
          dtype: 'float32' as const,
          shape: [256, 256],
          data: new Float32Array(256 * 256).fill(2),
        }; // 256 KiB
        await expect(writeNpy(join(d, 'features-00001.npy'), arr)).rejects.toThrow(
          /features-00001\.npy: write failed after \d+ of 262144 bytes: ENOSPC/,
        );
        expect(readdirSync(d)).toEqual(['ballast']);
        execFileSync('rm', [join(d, 'ballast')]);
        await writeNpy(join(d, 'features-00001.npy'), arr);
        expect((await readNpy(join(d, 'features-00001.npy'))).shape).toEqual([256, 256]);
      } finally {
        fs!.unmount();
      }
    },
  );
});
