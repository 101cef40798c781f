import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imageExtensions, listImages } from '../src/index.js';

let root = '';
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'qlip-image-list-'));
  const files = [
    'b.png',
    'A.JPG',
    'a.jpeg',
    'c.WebP',
    'd.avif',
    'e.tif',
    'f.TIFF',
    'g.gif',
    'notes.txt',
    'h.bmp', // not readable by this sharp build
    'i.svg', // vector: deliberately not a dataset image
    '.hidden.png',
    '._b.png', // macOS resource fork
    'sub/z.png',
    'sub/deeper/y.jpg',
    'sub/readme.md',
    '.cache/x.png',
    'sub/.thumbs/w.png',
  ];
  for (const f of files) {
    await mkdir(join(root, f, '..'), { recursive: true });
    await writeFile(join(root, f), 'bytes are not inspected by listImages');
  }
  await mkdir(join(root, 'emptydir'));
  await mkdir(join(root, 'only-text'));
  await writeFile(join(root, 'only-text', 'a.txt'), '');
  await symlink(join(root, 'b.png'), join(root, 'link.png'));
  await symlink(join(root, 'sub'), join(root, 'sublink')); // folder symlinks are not followed
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('listImages', () => {
  it('lists image files recursively, sorted by code unit, skipping hidden entries', async () => {
    expect(await listImages(root)).toEqual([
      'A.JPG',
      'a.jpeg',
      'b.png',
      'c.WebP',
      'd.avif',
      'e.tif',
      'f.TIFF',
      'g.gif',
      'link.png',
      'sub/deeper/y.jpg',
      'sub/z.png',
    ]);
  });

  it('non-recursive stays in the top folder', async () => {
    const top = await listImages(root, { recursive: false });
    expect(top).toContain('b.png');
    expect(top.some((p) => p.includes('/'))).toBe(false);
    expect(await listImages(join(root, 'sub'), { recursive: false })).toEqual(['z.png']);
  });

  it('errors name the folder: missing, not a folder, no images', async () => {
    const missing = join(root, 'does-not-exist');
    await expect(listImages(missing)).rejects.toThrow(`Image folder ${missing} cannot be read`);
    await expect(listImages(join(root, 'b.png'))).rejects.toThrow(/b\.png is not a directory/);
    await expect(listImages(join(root, 'emptydir'))).rejects.toThrow(
      /emptydir holds no image files \(searched recursively\)/,
    );
    await expect(listImages(join(root, 'only-text'))).rejects.toThrow(/accepted extensions: .*\.png/);
  });

  it('accepted extensions come from what sharp reads here', () => {
    const ext = imageExtensions();
    for (const e of ['.png', '.jpg', '.jpeg', '.webp', '.avif', '.tif', '.tiff', '.gif'])
      expect(ext).toContain(e);
    for (const e of ['.bmp', '.svg', '.v', '.txt']) expect(ext).not.toContain(e);
  });
});
