import { Rng } from '@qlip/core';

/**
 * Mix integers into one 32-bit seed (murmur3's finaliser after each part), so that streams for
 * (seed, purpose, epoch, index) tuples are independent; `Rng.fork` alone xors salts, which makes
 * (epoch 0, index 1) and (epoch 1, index 0) collide.
 */
export function deriveSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const part of parts) {
    h = Math.imul(h ^ (part >>> 0), 0x01000193) >>> 0;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b) >>> 0;
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
    h ^= h >>> 16;
    // Fold in the high part of large indices too.
    if (part > 0xffffffff) h = Math.imul(h ^ Math.floor(part / 4294967296), 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Purposes, so that shuffling and augmentation never share a stream. */
export const STREAM = { sourceOrder: 1, shuffleBuffer: 2, augment: 3 } as const;

export function streamRng(seed: number, purpose: number, ...more: number[]): Rng {
  return new Rng(deriveSeed(seed, purpose, ...more));
}
