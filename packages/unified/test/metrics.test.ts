import { describe, expect, it } from 'vitest';
import { bleu, captionWords, ciderD } from '../src/metrics.js';

describe('BLEU-4 (corpus, worked examples)', () => {
  it('is 1 for an exact match and 0 without a shared 4-gram', () => {
    expect(bleu(['a photo of the number seven.'], [['a photo of the number seven']])[3]).toBeCloseTo(1, 12);
    expect(bleu(['a photo of seven'], [['a photo of the number seven']])[3]).toBe(0);
  });
  it('matches the hand computation with clipping and the brevity penalty', () => {
    // hyp "the the cat sat on the mat" (7 words) vs ref "the cat sat on the mat" (6 words): c >= r, BP = 1.
    // p1: the x3 clipped to 2, cat, sat, on, mat -> 6/7; p2: "the the" misses -> 5/6;
    // p3: "the the cat" misses -> 4/5; p4: 3/4.  BLEU-4 = (6/7 * 5/6 * 4/5 * 3/4)^(1/4) = (3/7)^(1/4).
    const b = bleu(['the the cat sat on the mat'], [['the cat sat on the mat']]);
    expect(b[0]).toBeCloseTo(6 / 7, 12);
    expect(b[3]).toBeCloseTo((3 / 7) ** 0.25, 12);
    // hyp "the cat sat" (3) vs refs of 6 and 4 words: closest is 4, BP = exp(1 - 4/3); p1..p3 = 1, p4 = 0/0 -> 0.
    const s = bleu(['the cat sat'], [['the cat sat on the mat', 'the cat sat down']]);
    expect(s[2]).toBeCloseTo(Math.exp(1 - 4 / 3), 12);
    expect(s[3]).toBe(0);
  });
  it('pools counts over the corpus', () => {
    // Two captions: "a b c d" exact (4 unigrams), "a b c e" vs "a b c d": p1 = 7/8, p2 = 5/6, p3 = 3/4, p4 = 1/2.
    const b = bleu(['a b c d', 'a b c e'], [['a b c d'], ['a b c d']]);
    expect(b[3]).toBeCloseTo(((7 / 8) * (5 / 6) * (3 / 4) * (1 / 2)) ** 0.25, 12);
  });
  it('tokenizes like the COCO evaluation (lower case, no punctuation)', () => {
    expect(captionWords('A Photo, of the number 7.')).toEqual(['a', 'photo', 'of', 'the', 'number', '7']);
  });
});

describe('CIDEr-D (worked examples)', () => {
  it('is 0 with one image (every idf is log 1 - log 1 = 0)', () => {
    expect(ciderD(['a cat'], [['a cat']]).score).toBe(0);
  });
  it('matches the hand computation on two images', () => {
    // Images: 1 = hyp "red fox", ref "red fox"; 2 = hyp "blue fox", ref "red fox".
    // df: "red", "fox", "red fox" occur in both images' refs -> idf = log 2 - log 2 = 0 for all ref n-grams,
    // so every reference vector is zero: CIDEr-D = 0 for both (a corpus where all references agree says nothing).
    expect(ciderD(['red fox', 'blue fox'], [['red fox'], ['red fox']]).score).toBe(0);
    // Refs differ: 1 = "red fox", 2 = "blue fox". idf(log2 - log1) = ln 2 for red, blue, "red fox", "blue fox";
    // fox appears in both -> 0. Image 1 hyp "red fox" equals its ref: n=1 vectors (ln2 red, 0 fox) -> cos 1;
    // n=2 -> cos 1; n=3,4 empty -> 0. Lengths equal (1 bigram each): penalty 1. Score = (1 + 1 + 0 + 0)/4 * 10 = 5.
    // Image 2 hyp "red fox" vs ref "blue fox": no positive-weight overlap -> 0. Corpus = 2.5.
    const r = ciderD(['red fox', 'red fox'], [['red fox'], ['blue fox']]);
    expect(r.perImage[0]).toBeCloseTo(5, 12);
    expect(r.perImage[1]).toBe(0);
    expect(r.score).toBeCloseTo(2.5, 12);
  });
  it('applies the Gaussian length penalty on the bigram count (sigma 6) and clips', () => {
    // Image 1 hyp "red fox red fox" (3 bigrams) vs ref "red fox" (1 bigram), image 2 as above.
    // n=1: hyp red = 2 ln2, ref red = ln2 -> min(2ln2, ln2) * ln2 / (2ln2 * ln2) = 1/2.
    // n=2: hyp "red fox" x2 = 2ln2 ("fox red" weight ln2 since df 0 -> log2 - log1), ref ln2:
    //   val = ln2*ln2 / (sqrt(4+1) ln2 * ln2) = 1/sqrt5. Penalty exp(-(3-1)^2/72).
    const r = ciderD(['red fox red fox', 'blue fox'], [['red fox'], ['blue fox']]);
    const expected = ((0.5 + 1 / Math.sqrt(5)) / 4) * 10 * Math.exp(-4 / 72);
    expect(r.perImage[0]).toBeCloseTo(expected, 12);
  });
});
