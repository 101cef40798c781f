/**
 * Golden parity with open_clip's SimpleTokenizer on the 340 fixture cases
 * (fixtures/clip-tokenizer/cases.jsonl), plus the README's spot checks, other context lengths,
 * Hugging Face file round trips and bad input.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanText, pretokenize } from '../src/bpe/clip-bpe-core.js';
import { fixText } from '../src/bpe/ftfy.js';
import { EOT, SOT, VOCAB_SIZE } from '../src/bpe/vocab.js';
import { ClipBpe, writeHfTokenizerFiles } from '../src/index.js';

interface Case {
  category: string;
  text: string;
  ids: number[];
  context77: number[];
  clean: string;
  pretokens: string[];
  bpe: string[];
  ftfy_steps: string[];
  truncated: boolean;
}

const fixturePath = fileURLToPath(new URL('../../../fixtures/clip-tokenizer/cases.jsonl', import.meta.url));
const cases: Case[] = readFileSync(fixturePath, 'utf8')
  .split('\n')
  .filter((line) => line.length > 0)
  .map((line) => JSON.parse(line) as Case);

const tok = ClipBpe.default();
const label = (c: Case, i: number): string => `${i} ${c.category} ${JSON.stringify(c.text).slice(0, 60)}`;

describe('open_clip fixture cases', () => {
  it('has all 340 cases', () => {
    expect(cases).toHaveLength(340);
  });

  it.each(cases.map((c, i) => [label(c, i), c] as const))('%s', (_name, c) => {
    const trace = tok.trace(c.text);
    expect(trace.clean).toBe(c.clean);
    expect(trace.pretokens).toEqual(c.pretokens);
    expect(trace.bpe).toEqual(c.bpe);
    expect(trace.ids).toEqual(c.ids);
    expect(tok.encode(c.text)).toEqual(c.ids);
    expect(Array.from(tok.tokenize([c.text]))).toEqual(c.context77);
    const steps: string[] = [];
    fixText(c.text, steps);
    // The fixture lists each ftfy step once, in order of first use.
    expect([...new Set(steps)]).toEqual(c.ftfy_steps);
  });

  it('tokenizes all cases as one batch, row-major [P, 77]', () => {
    const rows = tok.tokenize(cases.map((c) => c.text));
    expect(rows).toBeInstanceOf(Int32Array);
    expect(rows.length).toBe(cases.length * 77);
    cases.forEach((c, p) => {
      expect(Array.from(rows.subarray(p * 77, (p + 1) * 77))).toEqual(c.context77);
    });
  });
});

describe('README spot checks', () => {
  it('has the documented ids', () => {
    const ids = (s: string) => tok.vocab.tokens.indexOf(s);
    expect([ids('!'), ids('!</w>'), ids('Ā'), ids('Ġ'), ids('a</w>'), ids('photo</w>')]).toEqual([
      0, 256, 188, 220, 320, 1125,
    ]);
    expect(tok.vocab.tokens).toHaveLength(VOCAB_SIZE);
    expect([tok.vocab.tokens[SOT], tok.vocab.tokens[EOT]]).toEqual(['<start_of_text>', '<end_of_text>']);
  });

  it('encodes "a photo of a tench."', () => {
    expect(tok.encode('a photo of a tench.')).toEqual([320, 1125, 539, 320, 1149, 634, 269]);
  });

  it('treats open_clip special-token text as special and OpenAI spellings as text', () => {
    expect(tok.encode('<start_of_text>')).toEqual([SOT]);
    expect(tok.encode('<END_OF_TEXT>')).toEqual([EOT]);
    expect(tok.encode('<|endoftext|>')).not.toContain(EOT);
  });

  it('splits digits and keeps combining marks as symbols', () => {
    expect(pretokenize(cleanText('1234 İ'))).toEqual(['1', '2', '3', '4', 'i', '\u0307']);
  });
});

describe('tokenize', () => {
  const long = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');

  it('truncates to other context lengths keeping EOT last', () => {
    const ids = tok.encode(long);
    expect(ids.length).toBeGreaterThan(30);
    const row = Array.from(tok.tokenize([long], 32));
    expect(row).toEqual([SOT, ...ids.slice(0, 30), EOT]);
  });

  it('pads short rows with zeros at context 32', () => {
    const rows = tok.tokenize(['a photo of a tench.', ''], 32);
    expect(Array.from(rows.subarray(0, 32))).toEqual([
      SOT,
      320,
      1125,
      539,
      320,
      1149,
      634,
      269,
      EOT,
      ...new Array(23).fill(0),
    ]);
    expect(Array.from(rows.subarray(32))).toEqual([SOT, EOT, ...new Array(30).fill(0)]);
  });

  it('fits exactly contextLength - 2 ids without truncation', () => {
    const ids = tok.encode('a photo of a tench.');
    expect(Array.from(tok.tokenize(['a photo of a tench.'], ids.length + 2))).toEqual([SOT, ...ids, EOT]);
    expect(Array.from(tok.tokenize(['a photo of a tench.'], ids.length + 1))).toEqual([
      SOT,
      ...ids.slice(0, -1),
      EOT,
    ]);
  });

  it('decodes ids back to cleaned text', () => {
    expect(tok.decode(tok.encode('A Photo of the Café!  '))).toBe('a photo of the café ! ');
    expect(tok.decode([SOT, 320, EOT])).toBe('<start_of_text>a <end_of_text>');
  });
});

describe('Hugging Face files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qlip-clip-tok-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const written = writeHfTokenizerFiles(dir);

  it('writes the four files in the HF layout', () => {
    expect(written.map((p) => p.slice(dir.length + 1))).toEqual([
      'vocab.json',
      'merges.txt',
      'tokenizer_config.json',
      'special_tokens_map.json',
    ]);
    const vocab = JSON.parse(readFileSync(join(dir, 'vocab.json'), 'utf8')) as Record<string, number>;
    expect(Object.keys(vocab)).toHaveLength(VOCAB_SIZE);
    expect([vocab['<|startoftext|>'], vocab['<|endoftext|>'], vocab['photo</w>']]).toEqual([SOT, EOT, 1125]);
    const merges = readFileSync(join(dir, 'merges.txt'), 'utf8').split('\n');
    expect(merges[0]).toBe('#version: 0.2');
    expect(merges[1]).toBe('i n');
    expect(merges).toHaveLength(1 + 48894 + 1);
    const config = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));
    expect(config.tokenizer_class).toBe('CLIPTokenizer');
  });

  it('gives identical ids on every case when loaded with fromFiles', () => {
    const hf = ClipBpe.fromFiles(join(dir, 'vocab.json'), join(dir, 'merges.txt'));
    expect(hf.vocab.tokens).toEqual(tok.vocab.tokens);
    for (const c of cases) expect(hf.encode(c.text)).toEqual(c.ids);
    expect(hf.tokenize(cases.map((c) => c.text))).toEqual(tok.tokenize(cases.map((c) => c.text)));
  });

  it('names the missing or malformed file', () => {
    const missing = join(dir, 'nope.json');
    expect(() => ClipBpe.fromFiles(missing, join(dir, 'merges.txt'))).toThrow(missing);
    expect(() => ClipBpe.fromFiles(join(dir, 'vocab.json'), join(dir, 'nope.txt'))).toThrow('nope.txt');
    const bad = join(dir, 'bad-vocab.json');
    writeFileSync(bad, '{"a": 0, "b": 0}');
    expect(() => ClipBpe.fromFiles(bad, join(dir, 'merges.txt'))).toThrow(bad);
    const badMerges = join(dir, 'bad-merges.txt');
    writeFileSync(badMerges, '#version: 0.2\ni n\nthree part line\n');
    expect(() => ClipBpe.fromFiles(join(dir, 'vocab.json'), badMerges)).toThrow(badMerges);
    expect(() => ClipBpe.fromMergesFile(join(dir, 'missing.txt.gz'))).toThrow('missing.txt.gz');
  });
});

describe('bad input', () => {
  it('rejects non-strings', () => {
    expect(() => tok.encode(42 as unknown as string)).toThrow(/expected a string, got number/);
    expect(() => cleanText(null as unknown as string)).toThrow(/got null/);
    expect(() => tok.tokenize('a photo' as unknown as string[])).toThrow(/array of strings/);
    expect(() => tok.tokenize(['ok', 7 as unknown as string])).toThrow(/texts\[1\]/);
  });

  it('rejects bad context lengths and ids', () => {
    expect(() => tok.tokenize(['a'], 1)).toThrow(/contextLength/);
    expect(() => tok.tokenize(['a'], 7.5)).toThrow(/contextLength/);
    expect(() => tok.decode([VOCAB_SIZE])).toThrow(/49408/);
  });
});

describe('throughput', () => {
  it('tokenizes 10k template prompts', () => {
    const templates = [
      'a photo of a {}.',
      'a bad photo of the {}.',
      'a sculpture of a {}.',
      'a rendering of the {}.',
      'itap of my {}.',
    ];
    const classes = Array.from(
      { length: 2000 },
      (_, i) => `class${i} ${['tench', 'goldfish', 'great white shark', 'tiger shark', 'hammerhead'][i % 5]}`,
    );
    const prompts = classes.flatMap((c) => templates.map((t) => t.replace('{}', c)));
    const fresh = new ClipBpe(tok.vocab);
    const t0 = performance.now();
    const rows = fresh.tokenize(prompts);
    const seconds = (performance.now() - t0) / 1000;
    console.log(
      `clip tokenizer: ${prompts.length} prompts in ${seconds.toFixed(3)} s = ${Math.round(prompts.length / seconds)} prompts/s`,
    );
    expect(rows.length).toBe(prompts.length * 77);
    expect(Array.from(rows.subarray(0, 9))).toEqual([SOT, ...fresh.encode(prompts[0]), EOT].slice(0, 9));
  });
});
