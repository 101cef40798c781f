import {
  closeSync,
  ftruncateSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import { type LazyTensor, SafetensorsReader, writeSafetensors } from '../src/index.js';

// A forced GC between steps makes the memory figures measure what the code keeps alive, not GC timing.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const dir = mkdtempSync(join(tmpdir(), 'qlip-st-mem-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MB = 1 << 20;

/** Peak growth of ArrayBuffer memory and RSS since creation, over the `sample()` calls. */
function meter() {
  gc();
  const base = process.memoryUsage();
  let peakAb = 0;
  let peakRss = 0;
  return {
    sample() {
      const m = process.memoryUsage();
      peakAb = Math.max(peakAb, m.arrayBuffers - base.arrayBuffers);
      peakRss = Math.max(peakRss, m.rss - base.rss);
    },
    get peak() {
      return { arrayBuffers: peakAb, rss: peakRss };
    },
  };
}

describe('large files stay out of memory', () => {
  const path = join(dir, 'big.safetensors');
  const TENSORS = 20;
  const PER = (10 * MB) / 4; // 10 MB of F32 per tensor, 200 MB in all
  const probes = [0, 12345, PER - 1];
  const marker = (t: number, i: number) => t * 1000 + i;

  it('reads a 200 MB file tensor by tensor with memory bounded by one tensor, not the file', async () => {
    // Built by hand as a sparse file (header + a few marker values per tensor), so the test does not
    // spend seconds pushing 200 MB through the disk; reading still copies every byte.
    const names = Array.from({ length: TENSORS }, (_, t) => `layer.${String(t).padStart(2, '0')}`);
    const header: Record<string, unknown> = {};
    for (const [t, n] of names.entries()) {
      header[n] = { dtype: 'F32', shape: [PER / 1024, 1024], data_offsets: [t * PER * 4, (t + 1) * PER * 4] };
    }
    const json = Buffer.from(JSON.stringify(header));
    const fd = openSync(path, 'w');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    writeSync(fd, len, 0, 8, 0);
    writeSync(fd, json, 0, json.length, 8);
    const base = 8 + json.length;
    ftruncateSync(fd, base + TENSORS * PER * 4);
    names.forEach((_, t) => {
      for (const i of probes)
        writeSync(fd, Buffer.from(Float32Array.of(marker(t, i)).buffer), 0, 4, base + (t * PER + i) * 4);
    });
    closeSync(fd);
    const size = statSync(path).size;
    expect(size).toBeGreaterThan(200 * MB);

    const m = meter();
    const r = await SafetensorsReader.open(path);
    m.sample();
    // In a function of its own, so no interpreter register keeps the last tensor alive across gc().
    const check = async (t: number, name: string) => {
      const d = (await r.read(name)).data as Float32Array;
      m.sample();
      expect(d.length).toBe(PER);
      expect(probes.map((i) => d[i])).toEqual(probes.map((i) => marker(t, i)));
      expect(d[1]).toBe(0);
    };
    for (const [t, name] of r.names().entries()) {
      await check(t, name);
      gc();
    }
    await r.close();
    // About one 10 MB tensor at a time (a margin for GC timing); twice the file size would be 400 MB.
    expect(m.peak.arrayBuffers).toBeLessThan(3 * 10 * MB);
    expect(m.peak.rss).toBeLessThan(size / 4);
  });

  it('the meter does see a whole-file read (control)', () => {
    const m = meter();
    const all = readFileSync(path);
    m.sample();
    expect(all.length).toBeGreaterThan(200 * MB);
    expect(m.peak.arrayBuffers).toBeGreaterThan(200 * MB);
  });

  it('writes lazy tensors holding one tensor at a time (32 MB)', async () => {
    const m = meter();
    const n = (4 * MB) / 4;
    const tensors: Record<string, LazyTensor> = {};
    for (let t = 0; t < 8; t++) {
      tensors[`w${t}`] = {
        dtype: 'F32',
        shape: [n],
        data: () => {
          gc();
          m.sample();
          const a = new Float32Array(n).fill(t);
          m.sample();
          return a;
        },
      };
    }
    const out = join(dir, 'lazy.safetensors');
    await writeSafetensors(out, tensors);
    m.sample();
    expect(statSync(out).size).toBeGreaterThan(32 * MB);
    // A writer that kept every produced tensor (or concatenated them) would reach 32 MB.
    expect(m.peak.arrayBuffers).toBeLessThan(3 * 4 * MB + MB);
    const r = await SafetensorsReader.open(out);
    expect((await r.read('w7')).data[n - 1]).toBe(7);
    await r.close();
  });
});
