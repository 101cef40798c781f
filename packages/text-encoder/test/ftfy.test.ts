/**
 * The ftfy 6.3.1 and Python `html` / `str` behaviours that CLIP's cleanup depends on.
 * ftfy-fuzz.jsonl holds 595 strings (mostly generated mojibake: UTF-8 text decoded with
 * each codec ftfy knows, partial and double mojibake, lost bytes, CESU-8, random bytes) with
 * `ftfy.fix_text` and `ftfy.badness.is_bad` results from the real ftfy 6.3.1 on Python 3.11;
 * at most one string per distinct ftfy repair plan, plus unchanged controls.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fixEncoding, fixText, unescapeHtml } from '../src/bpe/ftfy.js';
import { isBad } from '../src/bpe/ftfy-badness.js';
import { decodeUtf8Variants, restoreByteA0 } from '../src/bpe/ftfy-codecs.js';
import { HTML5_ENTITIES, pythonHtmlUnescape, pythonWhitespaceClean } from '../src/bpe/python-text.js';

interface FuzzCase {
  text: string;
  fixed: string;
  is_bad: boolean;
}

const fuzz: FuzzCase[] = readFileSync(new URL('./ftfy-fuzz.jsonl', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l.length > 0)
  .map((l) => JSON.parse(l) as FuzzCase);

describe('ftfy.fix_text parity (generated mojibake)', () => {
  it('has the golden strings, most of them changed by ftfy', () => {
    expect(fuzz).toHaveLength(595);
    expect(fuzz.filter((c) => c.fixed !== c.text).length).toBe(520);
  });

  it('matches fix_text and is_bad on every string', () => {
    const wrong = fuzz.filter((c) => fixText(c.text) !== c.fixed || isBad(c.text) !== c.is_bad);
    expect(wrong.map((c) => c.text)).toEqual([]);
  });

  it('repairs the documented examples', () => {
    expect(fixText('âœ” No problems')).toBe('✔ No problems');
    expect(fixText('&macr;\\_(ã\x83\x84)_/&macr;')).toBe('¯\\_(ツ)_/¯');
    expect(fixText('voilÃ le travail')).toBe('voilà le travail');
    expect(fixEncoding('sÃ³')).toBe('só');
    expect(fixEncoding('&ATILDE;&SUP3;')).toBe('&ATILDE;&SUP3;');
  });

  it('records the repair plan', () => {
    const steps: string[] = [];
    expect(fixText('doesnâ€™t', steps)).toBe("doesn't");
    expect(steps).toEqual(['encode:sloppy-windows-1252', 'decode:utf-8', 'apply:uncurl_quotes']);
  });

  it('keeps HTML unescaping off after the first line with "<"', () => {
    expect(fixText('a &amp; b\n<i>c &amp; d\n&amp; e')).toBe('a & b\n<i>c &amp; d\n&amp; e');
    expect(fixText('<i>x</i> &amp;')).toBe('<i>x</i> &amp;');
  });
});

describe('ftfy unescape_html', () => {
  it('needs the ";" and decodes all-caps names', () => {
    expect(unescapeHtml('&copy 2024 &copy;')).toBe('&copy 2024 ©');
    expect(unescapeHtml('P&EACUTE;REZ BUNDESSTRA&SZLIG;E')).toBe('PÉREZ BUNDESSTRASSE');
    expect(unescapeHtml('&ntilde; &Ntilde; &NTILDE; &nTILDE;')).toBe('ñ Ñ Ñ &nTILDE;');
  });

  it('leaves numeric references alone when they decode to ";"', () => {
    expect(unescapeHtml('&#59; &#x41;')).toBe('&#59; A');
  });
});

describe("Python's html.unescape", () => {
  it('uses the 2,231-key HTML5 table', () => {
    expect(HTML5_ENTITIES.size).toBe(2231);
    expect([...HTML5_ENTITIES.keys()].filter((k) => !k.endsWith(';'))).toHaveLength(106);
    expect(HTML5_ENTITIES.get('NotEqualTilde;')).toBe('\u2242\u0338');
  });

  it('decodes legacy names without ";" and the longest known prefix', () => {
    expect(pythonHtmlUnescape('&copy 2024')).toBe('© 2024');
    expect(pythonHtmlUnescape('&lt3')).toBe('<3');
    expect(pythonHtmlUnescape('&notit; &notin;')).toBe('¬it; ∉');
    expect(pythonHtmlUnescape('&bogus; &;')).toBe('&bogus; &;');
  });

  it('maps numeric references like Python', () => {
    expect(pythonHtmlUnescape('&#150;&#x80;&#129;&#13;')).toBe('–€\x81\r');
    expect(pythonHtmlUnescape('&#0;|&#xD800;|&#x110000;|&#99999999999999999999;')).toBe(
      '\ufffd|\ufffd|\ufffd|\ufffd',
    );
    expect(pythonHtmlUnescape('&#1;x&#x7f;&#xFFFE;&#xFDD0;&#x10FFFF;')).toBe('x');
    expect(pythonHtmlUnescape('&#x1F600 &#65')).toBe('😀 A');
  });
});

describe('Python str.split() whitespace', () => {
  it('splits on \\x1c-\\x1f and \\x85 but not on U+200B or U+FEFF', () => {
    expect(pythonWhitespaceClean(' a\x1cb\x85c\u3000d\u200be\ufefff ')).toBe('a b c d\u200be\ufefff');
    expect(pythonWhitespaceClean('\t\n\u2028 ')).toBe('');
  });
});

describe('byte-level codecs', () => {
  it('decodes utf-8-variants (CESU-8 pairs, Java NUL) and rejects lone surrogates', () => {
    expect(decodeUtf8Variants('\xed\xa0\xbd\xed\xb8\x80')).toBe('😀');
    expect(decodeUtf8Variants('a\xc0\x80b')).toBe('a\0b');
    expect(decodeUtf8Variants('\xed\xa0\xbd')).toBeNull();
    expect(decodeUtf8Variants('\xc3(')).toBeNull();
    expect(decodeUtf8Variants('\xef\xbb\xbfx')).toBe('\ufeffx');
  });

  it('restores byte A0 where a space broke a UTF-8 sequence (values from Python ftfy)', () => {
    expect(restoreByteA0('voil\xc3 le')).toBe('voil\xc3\xa0 le');
    expect(restoreByteA0('\xc3 s ')).toBe('\xc3\xa0s ');
    expect(restoreByteA0('\xe2 \x80x')).toBe('\xe2\xa0\x80x');
    expect(restoreByteA0('\xe2\x80 ok')).toBe('\xe2\x80\xa0ok');
    expect(restoreByteA0('plain text')).toBe('plain text');
  });
});
