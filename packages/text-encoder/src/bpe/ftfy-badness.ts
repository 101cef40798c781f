/**
 * ftfy's mojibake detector: a regular expression over unlikely juxtapositions of the few hundred
 * characters that UTF-8 mojibake is made of. `isBad(text)` says whether fix_encoding should try
 * to re-decode the text at all.
 */
import { MOJIBAKE as M, UTF8_CLUES as U } from './ftfy-data.js';
import { PY_WHITESPACE_CLASS, PY_WORD_CLASS } from './python-text.js';

const S = `[${PY_WHITESPACE_CLASS}]`;
const W = `[${PY_WORD_CLASS}]`;

/** Character class made of several categories. */
const cls = (...parts: string[]): string => `[${parts.join('')}]`;

// Category unions that recur below.
const ACCENTED = M.lowerAccented + M.upperAccented;
const PUNCT = M.startPunctuation + M.endPunctuation;

/**
 * Each alternative is a pattern that is far more likely to come from a wrong decoding than from
 * intended text. The branches follow ftfy 6.3.1 `BADNESS_RE` one for one.
 */
const BADNESS_BRANCHES: readonly string[] = [
  cls(M.c1),
  cls(M.bad, ACCENTED, M.box, PUNCT, M.currency, M.numeric, M.law) + cls(M.bad),
  `[a-zA-Z]${cls(M.lowerCommon, M.upperCommon)}${cls(M.bad)}`,
  cls(M.bad) + cls(ACCENTED, M.box, PUNCT, M.currency, M.numeric, M.law),
  cls(M.lowerAccented, M.lowerCommon, M.box, M.endPunctuation, M.currency, M.numeric) + cls(M.upperAccented),
  cls(M.box, M.endPunctuation, M.currency, M.numeric) + cls(M.lowerAccented),
  cls(M.lowerAccented, M.box, M.endPunctuation) + cls(M.currency),
  S + cls(M.upperAccented) + cls(M.currency),
  cls(M.upperAccented, M.box) + cls(M.numeric, M.law),
  cls(ACCENTED, M.box, M.currency, M.endPunctuation) + cls(M.startPunctuation) + cls(M.numeric),
  cls(ACCENTED, M.currency, M.numeric, M.box, M.law) + cls(M.endPunctuation) + cls(M.startPunctuation),
  cls(M.currency, M.numeric, M.box) + cls(M.startPunctuation),
  `[a-z]${cls(M.upperAccented)}${cls(M.startPunctuation, M.currency)}`,
  cls(M.box) + cls(M.kaomoji),
  cls(ACCENTED, M.currency, M.numeric, PUNCT, M.law) + cls(M.box),
  cls(M.box) + cls(M.endPunctuation),
  cls(ACCENTED) + cls(PUNCT) + W,
  // The ligature œ not followed by an unaccented Latin letter.
  '[Œœ][^A-Za-z]',
  `${cls(M.upperAccented)}°`,
  // Common two-character Windows-1252 mojibake not covered above.
  `[ÂÃÎÐ][€œŠš¢£Ÿž\\u{a0}\\u{ad}®©°·»${PUNCT}–—´]`,
  '×[²³]',
  // Windows-1252 mojibake of Arabic needs the 'common' characters, so it takes four characters.
  `[ØÙ]${cls(M.common, M.currency, M.bad, M.numeric, M.startPunctuation, 'ŸŠ®°µ»')}`.repeat(2),
  // Windows-1252 starts of three-byte sequences for South Asian scripts.
  'à[²µ¹¼½¾]',
  // MacRoman mojibake.
  '√[±∂†≠®™´≤≥¥µø]',
  '≈[°¢]',
  '‚Ä[ìîïòôúùû†°¢π]',
  '‚[âó][àä°ê]',
  // Windows-1251 mojibake of U+2000-range punctuation.
  'вЂ',
  // Windows-1251 mojibake of Latin-1 or Cyrillic: three characters are required.
  `[ВГРС]${cls(M.c1, M.bad, PUNCT, M.currency, '°µ')}[ВГРС]`,
  // Windows-1251 over Latin-1 over Windows-1252, next to a Latin letter. Python's `.` is [^\n].
  'ГўВЂВ[^\\n][A-Za-z ]',
  // Windows-1252 encodings of à and á, and of U+00A0 itself.
  'Ã[\\u{a0}¡]',
  `[a-z]${S}?[ÃÂ][ ]`,
  '^[ÃÂ][ ]',
  // Â in front of a common character, as the encoding of that very character.
  `[a-z.,?!${M.endPunctuation}]Â[ ${PUNCT}]`,
  // Windows-1253 mojibake of U+2000-range punctuation.
  'β€[™\\u{a0}Ά\\u{ad}®°]',
  // Windows-1253 mojibake of Latin-1 or Greek.
  `[ΒΓΞΟ]${cls(M.c1, M.bad, PUNCT, M.currency, '°')}[ΒΓΞΟ]`,
  // Windows-1257 mojibake of U+2000-range punctuation.
  'ā€',
];

const BADNESS = new RegExp(BADNESS_BRANCHES.join('|'), 'u');

/** True when the text contains a sequence that looks like mojibake (ftfy `is_bad`). */
export function isBad(text: string): boolean {
  return BADNESS.test(text);
}

/**
 * Runs of UTF-8 lead + continuation characters (spaces may stand in for U+00A0), not preceded by a
 * strict continuation character, so that a fix does not start in the middle of a longer garble.
 */
export const UTF8_DETECTOR = new RegExp(
  `(?<!${cls(U.utf8ContinuationStrict)})(?:` +
    `${cls(U.utf8FirstOf2)}${cls(U.utf8Continuation)}` +
    `|${cls(U.utf8FirstOf3)}${cls(U.utf8Continuation)}{2}` +
    `|${cls(U.utf8FirstOf4)}${cls(U.utf8Continuation)}{3}` +
    ')+',
  'gu',
);
