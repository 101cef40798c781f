import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  clipPreprocessParams,
  DEFAULT_MAX_FILE_BYTES,
  decodeImage,
  decodeMemoryStats,
  type ListSkip,
  listImages,
  preprocessImage,
  readImageFile,
  readRegularFile,
  setDecodeMemoryLimit,
} from '../src/index.js';

// Issue 13 items 9 (unbounded memory) and 12 (unreadable folders, symlinks, FIFOs).
const root = mkdtempSync(join(tmpdir(), 'qlip-input-safety-'));
chmodSync(root, 0o755);
const LIST_JS = fileURLToPath(new URL('../dist/image/list.js', import.meta.url));

async function png(path: string, w = 8, h = 8): Promise<void> {
  await sharp(Buffer.alloc(w * h * 3, 100), { raw: { width: w, height: h, channels: 3 } })
    .png()
    .toFile(path);
}

function mkfifo(path: string): boolean {
  try {
    execFileSync('mkfifo', [path]);
    return true;
  } catch {
    return false;
  }
}

describe('listImages reports what it leaves out', () => {
  it('dangling and looping symlinks, FIFOs named like images and symlinked folders are counted, not silently ignored', async () => {
    const dir = join(root, 'links');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    await png(join(dir, 'a.png'));
    symlinkSync(join(dir, 'a.png'), join(dir, 'b.png')); // fine: followed
    symlinkSync(join(dir, 'gone.png'), join(dir, 'dangling.png'));
    symlinkSync(join(dir, 'loop2.png'), join(dir, 'loop1.png'));
    symlinkSync(join(dir, 'loop1.png'), join(dir, 'loop2.png'));
    symlinkSync(dir, join(dir, 'sub', 'up'));
    const fifo = mkfifo(join(dir, 'pipe.png'));
    const skips: ListSkip[] = [];
    const files = await listImages(dir, { onSkip: (s) => skips.push(s) });
    expect(files).toEqual(['a.png', 'b.png']);
    const by = Object.fromEntries(skips.map((s) => [s.path, s.reason]));
    expect(by).toMatchObject({
      'dangling.png': 'danglingSymlink',
      'loop1.png': 'symlinkLoop',
      'loop2.png': 'symlinkLoop',
      'sub/up': 'symlinkedFolder',
    });
    if (fifo) expect(by['pipe.png']).toBe('notRegular');
  });

  it('an unreadable sub-folder is skipped and reported; the rest is listed (as an unprivileged user)', async () => {
    const dir = join(root, 'perm');
    mkdirSync(join(dir, 'locked'), { recursive: true });
    mkdirSync(join(dir, 'open'), { recursive: true });
    await png(join(dir, 'open', 'x.png'));
    await png(join(dir, 'locked', 'y.png'));
    chmodSync(join(dir, 'locked'), 0o000);
    const script = `const { listImages } = await import(${JSON.stringify(LIST_JS)});
      const skips = []; const files = await listImages(${JSON.stringify(dir)}, { onSkip: (s) => skips.push(s) });
      console.log(JSON.stringify({ files, skips }));`;
    // Root reads every folder whatever its mode: run the listing as `nobody` then.
    const asRoot = process.getuid?.() === 0;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
    });
    chmodSync(join(dir, 'locked'), 0o755);
    expect(r.status, r.stderr).toBe(0);
    const { files, skips } = JSON.parse(r.stdout);
    expect(files).toEqual(['open/x.png']);
    expect(skips).toEqual([{ path: 'locked', reason: 'unreadableFolder', detail: 'EACCES' }]);
  });
});

describe('reading input files', () => {
  it('a FIFO is refused at once instead of hanging', async () => {
    const p = join(root, 'config.json');
    if (!mkfifo(p)) return;
    const t0 = Date.now();
    await expect(readRegularFile(p, { what: 'QLIP config' })).rejects.toThrow(
      /config\.json: QLIP config is a FIFO \(named pipe\), not a regular file/,
    );
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('a sparse 1 GB file is refused from its size, before any byte of it is read', async () => {
    const p = join(root, 'sparse.png');
    writeFileSync(p, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    truncateSync(p, 2 ** 30);
    const rss0 = process.memoryUsage().rss;
    const err = await readImageFile(p).catch((e) => e);
    expect(err.message).toMatch(
      /sparse\.png: image file is 1073741824 bytes, over the limit of 268435456 bytes/,
    );
    expect(err.fault).toBe('tooLarge');
    await expect(decodeImage(p)).rejects.toThrow(/over the limit of \d+ bytes per file/);
    expect(process.memoryUsage().rss - rss0).toBeLessThan(200 * 2 ** 20);
    expect(DEFAULT_MAX_FILE_BYTES).toBe(256 * 2 ** 20);
    const small = join(root, 'small.bin');
    writeFileSync(small, Buffer.alloc(100, 1));
    await expect(readRegularFile(small, { maxBytes: 50 })).rejects.toThrow(/100 bytes, over the limit of 50/);
    await expect(readRegularFile(small, { maxBytes: 100 })).resolves.toHaveLength(100);
  });

  it('a small file whose header announces too many pixels is refused before its body is read', async () => {
    const p = join(root, 'bomb.png');
    await png(p, 3000, 3000); // compresses to a few KB
    const err = await readImageFile(p, { maxPixels: 1_000_000 }).catch((e) => e);
    expect(err.fault).toBe('tooManyPixels');
    expect(err.message).toMatch(/bomb\.png is 3000x3000 .*over the limit of 1000000 pixels/);
  });

  it('concurrent decodes stay within the decode memory budget', async () => {
    const files: string[] = [];
    for (let i = 0; i < 6; i++) {
      files.push(join(root, `big${i}.png`));
      await png(files[i]!, 1000, 1000);
    }
    const params = clipPreprocessParams(16);
    const perImage = 1000 * 1000 * (2 * 3 + 3);
    decodeMemoryStats({ resetPeak: true });
    const unbounded = setDecodeMemoryLimit(Number.POSITIVE_INFINITY);
    await Promise.all(files.map((f) => preprocessImage(f, params)));
    unbounded();
    expect(decodeMemoryStats({ resetPeak: true }).peak).toBeGreaterThan(2 * perImage); // they did overlap
    const restore = setDecodeMemoryLimit(2.5 * perImage);
    try {
      const out = await Promise.all(files.map((f) => preprocessImage(f, params)));
      expect(out).toHaveLength(6);
      const s = decodeMemoryStats();
      expect(s.peak).toBeLessThanOrEqual(2.5 * perImage);
      expect(s.inUse).toBe(0);
    } finally {
      restore();
    }
  });
});
