import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  confusionMatrix,
  cosineScores,
  ensemblePrompts,
  fillTemplates,
  OPENAI_IMAGENET_TEMPLATES,
  perClassAccuracy,
  type Rows,
  topKAccuracy,
  zeroShotEvaluate,
} from '../src/index.js';

const rows = (data: number[], r: number, c: number): Rows => ({
  data: Float32Array.from(data),
  rows: r,
  cols: c,
});

describe('prompt ensembling and scores', () => {
  test('mean of unit embeddings per class, renormalised', () => {
    // Class 0: (3,0) and (0,4) -> unit (1,0),(0,1) -> mean (0.5,0.5) -> (1/sqrt2, 1/sqrt2).
    // Class 1: (0,-2) twice -> (0,-1).
    const cls = ensemblePrompts(rows([3, 0, 0, 4, 0, -2, 0, -2], 4, 2), 2);
    expect(cls.rows).toBe(2);
    expect(cls.data[0]).toBeCloseTo(Math.SQRT1_2, 6);
    expect(cls.data[1]).toBeCloseTo(Math.SQRT1_2, 6);
    expect(Array.from(cls.data.slice(2))).toEqual([0, -1]);
  });

  test('cosine scores ignore embedding norms', () => {
    const s = cosineScores(rows([2, 0, 0, 5], 2, 2), rows([1, 1, 0, -3], 2, 2));
    expect(s.rows).toBe(2);
    expect(s.cols).toBe(2);
    expect(s.data[0]).toBeCloseTo(Math.SQRT1_2, 6);
    expect(s.data[1]).toBeCloseTo(0, 6);
    expect(s.data[2]).toBeCloseTo(Math.SQRT1_2, 6);
    expect(s.data[3]).toBeCloseTo(-1, 6);
  });

  test('bad input', () => {
    expect(() => ensemblePrompts(rows([1, 2, 3], 3, 1), 2)).toThrow(/do not split evenly/);
    expect(() => cosineScores(rows([1, 2], 1, 2), rows([1, 2, 3], 1, 3))).toThrow(/sizes differ/);
  });
});

describe('accuracy, per-class accuracy, confusion matrix', () => {
  // 4 images, 3 classes. Labels 0, 1, 2, 2.
  const scores = rows([0.9, 0.1, 0.0, /**/ 0.5, 0.3, 0.2, /**/ 0.1, 0.2, 0.7, /**/ 0.3, 0.6, 0.1], 4, 3);
  const labels = [0, 1, 2, 2];

  test('top-k', () => {
    expect(topKAccuracy(scores, labels, 1)).toBe(0.5); // images 0 and 2
    expect(topKAccuracy(scores, labels, 2)).toBe(0.75); // + image 1 (its class 1 scores second)
    expect(topKAccuracy(scores, labels, 3)).toBe(1);
  });

  test('ties rank by class index, like argmax', () => {
    const tie = rows([0.5, 0.5], 1, 2);
    expect(topKAccuracy(tie, [0], 1)).toBe(1);
    expect(topKAccuracy(tie, [1], 1)).toBe(0);
    expect(topKAccuracy(tie, [1], 2)).toBe(1);
  });

  test('evaluate: predictions, per class, confusion', () => {
    const r = zeroShotEvaluate(scores, labels);
    expect(Array.from(r.predictions)).toEqual([0, 0, 2, 1]);
    expect(r.top1).toBe(0.5);
    expect(r.top5).toBe(1); // only 3 classes
    expect(Array.from(r.confusion)).toEqual([1, 0, 0, /**/ 1, 0, 0, /**/ 0, 1, 1]);
    expect(Array.from(r.perClass.accuracy)).toEqual([1, 0, 0.5]);
    expect(Array.from(r.perClass.counts)).toEqual([1, 1, 2]);
  });

  test('classes without samples have NaN accuracy', () => {
    const { accuracy, counts } = perClassAccuracy([0, 0], [0, 0], 2);
    expect(accuracy[0]).toBe(1);
    expect(Number.isNaN(accuracy[1])).toBe(true);
    expect(counts[1]).toBe(0);
  });

  test('bad input', () => {
    expect(() => topKAccuracy(scores, [0, 1, 2], 1)).toThrow(/3 labels for 4 score rows/);
    expect(() => topKAccuracy(scores, [0, 1, 2, 3], 1)).toThrow(/label 3 at position 3/);
    expect(() => confusionMatrix([0, 5], [0, 1], 3)).toThrow(/pair 1/);
  });
});

describe('OPENAI_IMAGENET_TEMPLATES', () => {
  // fixtures/clip-tokenizer/cases.jsonl has, in order, each of the 80 templates filled with a class name.
  const casesPath = join(import.meta.dirname, '..', '..', '..', 'fixtures', 'clip-tokenizer', 'cases.jsonl');
  const texts = readFileSync(casesPath, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as { category: string; text: string })
    .filter((c) => c.category === 'templates')
    .map((c) => c.text);

  test('80 distinct templates, each with one {} slot', () => {
    expect(OPENAI_IMAGENET_TEMPLATES).toHaveLength(80);
    expect(new Set(OPENAI_IMAGENET_TEMPLATES).size).toBe(80);
    for (const t of OPENAI_IMAGENET_TEMPLATES) expect(t.split('{}')).toHaveLength(2);
  });

  test('template i, filled with the case class name, reproduces tokenizer case i', () => {
    expect(texts).toHaveLength(80);
    for (const [i, t] of OPENAI_IMAGENET_TEMPLATES.entries()) {
      const [pre, post] = t.split('{}');
      const text = texts[i];
      expect(text.startsWith(pre) && text.endsWith(post), `case ${i}: "${text}" vs "${t}"`).toBe(true);
      const name = text.slice(pre.length, text.length - post.length);
      expect(fillTemplates(name, [t])).toEqual([text]);
    }
  });

  test('class names are inserted literally', () => {
    expect(fillTemplates("$& Pete's $1", ['a photo of a {}.'])).toEqual(["a photo of a $& Pete's $1."]);
  });
});
