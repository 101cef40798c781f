/**
 * Python standard-library text behaviour that CLIP's cleanup relies on: `str.split()` whitespace,
 * `html.unescape` (HTML5 named references with the longest-prefix rule, Windows-1252 numeric
 * references) and the regex classes `\s` / `\w` of Python's `re` module.
 */
import { characterEntities } from 'character-entities';
import { characterEntitiesLegacy } from 'character-entities-legacy';

/**
 * Python's whitespace set (`str.isspace`, `str.split()`, `re` `\s`). It differs from JavaScript's
 * `\s`: it has U+001C-U+001F and U+0085 and lacks U+FEFF.
 */
export const PY_WHITESPACE_CLASS =
  '\\t\\n\\v\\f\\r\\u{1c}-\\u{1f} \\u{85}\\u{a0}\\u{1680}\\u{2000}-\\u{200a}\\u{2028}\\u{2029}\\u{202f}\\u{205f}\\u{3000}';

/** Python `re` `\w` for str patterns: letters, anything numeric, underscore. */
export const PY_WORD_CLASS = '\\p{L}\\p{N}_';

const PY_WHITESPACE_RUN = new RegExp(`[${PY_WHITESPACE_CLASS}]+`, 'u');

/** `" ".join(text.split())` in Python: trims and collapses runs of Python whitespace to one space. */
export function pythonWhitespaceClean(text: string): string {
  return text
    .split(PY_WHITESPACE_RUN)
    .filter((part) => part.length > 0)
    .join(' ');
}

/**
 * Python's `html.entities.html5`: 2,231 keys, the WHATWG named references. Names that end in `;`
 * come from `character-entities`, the 106 legacy names that also work without `;` from
 * `character-entities-legacy`.
 */
export const HTML5_ENTITIES: ReadonlyMap<string, string> = (() => {
  const table = new Map<string, string>();
  for (const [name, value] of Object.entries(characterEntities)) table.set(`${name};`, value);
  for (const name of characterEntitiesLegacy) {
    const value = characterEntities[name];
    if (value === undefined) throw new Error(`character-entities has no value for legacy name "${name}"`);
    table.set(name, value);
  }
  return table;
})();

// Numeric references that browsers (and Python) read as Windows-1252 or replace: 0x00 and 0x80-0x9F.
const WINDOWS_1252_C1 =
  '\u20ac\x81\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\x8d\u017d\x8f' +
  '\x90\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\x9d\u017e\u0178';

/** Code points that a numeric reference turns into the empty string. */
function isInvalidCodepoint(n: number): boolean {
  return (
    (n >= 0x01 && n <= 0x08) ||
    n === 0x0b ||
    (n >= 0x0e && n <= 0x1f) ||
    (n >= 0x7f && n <= 0x9f) ||
    (n >= 0xfdd0 && n <= 0xfdef) ||
    (n & 0xfffe) === 0xfffe
  );
}

function numericReference(body: string): string {
  const hex = body[1] === 'x' || body[1] === 'X';
  const digits = (hex ? body.slice(2) : body.slice(1)).replace(/;$/, '');
  // Digit strings can be arbitrarily long; anything past 0x10FFFF gives U+FFFD anyway.
  const n = digits.length > 12 ? Number.POSITIVE_INFINITY : Number.parseInt(digits, hex ? 16 : 10);
  if (n === 0x00) return '\ufffd';
  if (n === 0x0d) return '\r';
  if (n >= 0x80 && n <= 0x9f) return WINDOWS_1252_C1[n - 0x80];
  if ((n >= 0xd800 && n <= 0xdfff) || n > 0x10ffff) return '\ufffd';
  if (isInvalidCodepoint(n)) return '';
  return String.fromCodePoint(n);
}

function namedReference(body: string): string {
  const direct = HTML5_ENTITIES.get(body);
  if (direct !== undefined) return direct;
  // Longest prefix of at least 2 code points that is a (legacy, `;`-less) name; the rest stays.
  const chars = Array.from(body);
  for (let x = chars.length - 1; x > 1; x--) {
    const prefix = chars.slice(0, x).join('');
    const value = HTML5_ENTITIES.get(prefix);
    if (value !== undefined) return value + chars.slice(x).join('');
  }
  return `&${body}`;
}

const CHARREF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

/** Python's `html.unescape` (3.11): numeric and HTML5 named references, `;` optional. */
export function pythonHtmlUnescape(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(CHARREF, (_match, body: string) =>
    body[0] === '#' ? numericReference(body) : namedReference(body),
  );
}
