import { describe, expect, it } from 'vitest';
import { Rng } from '../src/index.js';

describe('Rng', () => {
  it('repeats for a seed and differs across seeds', () => {
    const a = Array.from(
      { length: 5 },
      (
        (r) => () =>
          r.next()
      )(new Rng(1)),
    );
    const b = Array.from(
      { length: 5 },
      (
        (r) => () =>
          r.next()
      )(new Rng(1)),
    );
    const c = Array.from(
      { length: 5 },
      (
        (r) => () =>
          r.next()
      )(new Rng(2)),
    );
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    for (const v of a) expect(v >= 0 && v < 1).toBe(true);
  });

  it('restores its exact state, including a pending normal', () => {
    const r = new Rng(42);
    r.normal(); // leaves a spare
    const saved = JSON.parse(JSON.stringify(r.state));
    const next = [r.normal(), r.next(), r.normal()];
    const s = Rng.fromState(saved);
    expect([s.normal(), s.next(), s.normal()]).toEqual(next);
  });

  it('draws normals with mean ~0 and std ~1, truncated normals within 2 std', () => {
    const r = new Rng(3);
    const xs = Array.from({ length: 20000 }, () => r.normal());
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(sd - 1)).toBeLessThan(0.03);
    for (let i = 0; i < 1000; i++) expect(Math.abs(r.truncNormal(0.02))).toBeLessThanOrEqual(0.04);
  });

  it('shuffles as a permutation; forks are independent and repeatable', () => {
    const p = new Rng(5).shuffle([...Array(50).keys()]);
    expect([...p].sort((x, y) => x - y)).toEqual([...Array(50).keys()]);
    expect(p).not.toEqual([...Array(50).keys()]);
    expect(new Rng(5).fork(1).next()).toBe(new Rng(5).fork(1).next());
    expect(new Rng(5).fork(1).next()).not.toBe(new Rng(5).fork(2).next());
  });
});
