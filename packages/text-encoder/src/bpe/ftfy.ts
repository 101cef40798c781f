/**
 * A port of `ftfy.fix_text` 6.3.1 with its default configuration, as open_clip's `basic_clean`
 * calls it: HTML unescaping (switched off once a segment has `<`), mojibake repair, C1 controls,
 * Latin ligatures, character width, curly quotes, line breaks, surrogates, terminal escapes,
 * control characters and NFC, repeated per line until nothing changes.
 */
import { isBad, UTF8_DETECTOR } from './ftfy-badness.js';
import {
  ALTERED_UTF8,
  CHARMAP_CODECS,
  type Charmap,
  decodeCharmap,
  decodeStrictCp1252,
  decodeUtf8Variants,
  encodeCharmap,
  LATIN_1,
  possibleEncoding,
  replaceLossySequences,
  restoreByteA0,
  SLOPPY_WINDOWS_1252,
} from './ftfy-codecs.js';
import { HTML5_ENTITIES, pythonHtmlUnescape } from './python-text.js';

/** Fixer names as ftfy explains them, e.g. `apply:uncurl_quotes` or `encode:latin-1`. */
export type FtfyStep = string;

/** Entities ftfy decodes: HTML5 names ending in `;`, plus all-caps forms of lower-case names. */
const FTFY_ENTITIES: ReadonlyMap<string, string> = (() => {
  const table = new Map<string, string>();
  for (const [name, value] of HTML5_ENTITIES) {
    if (!name.endsWith(';')) continue;
    table.set(`&${name}`, value);
    if (name === name.toLowerCase()) {
      // Only when the upper-case spelling is not itself meaningful to html.unescape.
      const upper = `&${name.toUpperCase()}`;
      if (pythonHtmlUnescape(upper) === upper) table.set(upper, value.toUpperCase());
    }
  }
  return table;
})();

const FTFY_ENTITY = /&#?[0-9A-Za-z]{1,24};/g;

/** ftfy `unescape_html`: only `;`-terminated references, plus all-caps names like `&EACUTE;`. */
export function unescapeHtml(text: string): string {
  return text.replace(FTFY_ENTITY, (ref) => {
    const named = FTFY_ENTITIES.get(ref);
    if (named !== undefined) return named;
    if (ref.startsWith('&#')) {
      const decoded = pythonHtmlUnescape(ref);
      return decoded.includes(';') ? ref : decoded;
    }
    return ref;
  });
}

const C1_CONTROL = /[\x80-\x9f]/g;

/** ftfy `fix_c1_controls`: leftover C1 controls read as sloppy Windows-1252. */
export function fixC1Controls(text: string): string {
  return text.replace(C1_CONTROL, (ch) => decodeCharmap(encodeCharmap(ch, LATIN_1), SLOPPY_WINDOWS_1252));
}

const LIGATURES: Readonly<Record<string, string>> = {
  Ĳ: 'IJ',
  ĳ: 'ij',
  ŉ: 'ʼn',
  Ǳ: 'DZ',
  ǲ: 'Dz',
  ǳ: 'dz',
  Ǆ: 'DŽ',
  ǅ: 'Dž',
  ǆ: 'dž',
  Ǉ: 'LJ',
  ǈ: 'Lj',
  ǉ: 'lj',
  Ǌ: 'NJ',
  ǋ: 'Nj',
  ǌ: 'nj',
  ﬀ: 'ff',
  ﬁ: 'fi',
  ﬂ: 'fl',
  ﬃ: 'ffi',
  ﬄ: 'ffl',
  ﬅ: 'ſt',
  ﬆ: 'st',
};
const LIGATURE_RE = new RegExp(`[${Object.keys(LIGATURES).join('')}]`, 'gu');

/** ftfy `fix_latin_ligatures`. */
export function fixLatinLigatures(text: string): string {
  return text.replace(LIGATURE_RE, (ch) => LIGATURES[ch]);
}

/** ftfy `fix_character_width`: U+3000 to space, U+FF01-U+FFEF to their NFKC form. */
export function fixCharacterWidth(text: string): string {
  return text.replace(/[\u3000\uff01-\uffef]/g, (ch) => (ch === '\u3000' ? ' ' : ch.normalize('NFKC')));
}

/** ftfy `uncurl_quotes`. */
export function uncurlQuotes(text: string): string {
  return text.replace(/[\u201c-\u201f]/g, '"').replace(/[\u02bc\u2018-\u201b]/g, "'");
}

/** ftfy `fix_line_breaks`: CRLF, CR, U+2028, U+2029 and U+0085 become `\n`. */
export function fixLineBreaks(text: string): string {
  return text.replace(/\r\n/g, '\n').replace(/[\r\u2028\u2029\x85]/g, '\n');
}

/** ftfy `fix_surrogates`: JS strings already pair surrogates; lone halves become U+FFFD. */
export function fixSurrogates(text: string): string {
  return text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

/** ftfy `remove_terminal_escapes` (Python's `\d` is any decimal digit). */
export function removeTerminalEscapes(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ESC starts the sequences being removed
  return text.replace(/\x1b\[(?:\p{Nd}|;)*[a-zA-Z]/gu, '');
}

/** ftfy `remove_control_chars`. */
export function removeControlChars(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: these control characters are what ftfy removes
  return text.replace(/[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g, '');
}

function tryCharmap(text: string, cm: Charmap, steps: FtfyStep[] | null): string | null {
  let bytes = encodeCharmap(text, cm);
  const transcodes: FtfyStep[] = [];
  // MacRoman is skipped: there an en dash followed by a space would look like a broken A0.
  if (cm.name !== 'macroman' && bytes.search(ALTERED_UTF8) !== -1) {
    const restored = restoreByteA0(bytes);
    if (restored !== bytes) transcodes.push('transcode:restore_byte_a0');
    bytes = restored;
  }
  if (cm.sloppy) {
    const replaced = replaceLossySequences(bytes);
    if (replaced !== bytes) transcodes.push('transcode:replace_lossy_sequences');
    bytes = replaced;
  }
  const fixed = decodeUtf8Variants(bytes);
  if (fixed === null) return null;
  const variant = bytes.includes('\xed') || bytes.includes('\xc0');
  steps?.push(`encode:${cm.name}`, ...transcodes, `decode:${variant ? 'utf-8-variants' : 'utf-8'}`);
  return fixed;
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** One step of ftfy's `fix_encoding`; returns the text unchanged when it sees nothing to fix. */
function fixEncodingOneStep(text: string, steps: FtfyStep[] | null): string {
  if (text.length === 0 || isAscii(text) || !isBad(text)) return text;

  // Most likely: UTF-8 that was decoded with a single-byte codec.
  let latin1Possible = false;
  for (const cm of CHARMAP_CODECS) {
    if (!possibleEncoding(text, cm)) continue;
    if (cm === LATIN_1) latin1Possible = true;
    const fixed = tryCharmap(text, cm, steps);
    if (fixed !== null) return fixed;
  }

  // UTF-8 mojibake embedded in otherwise fine text: fix the bad-looking runs on their own.
  if (text.search(UTF8_DETECTOR) !== -1) {
    const fixed = decodeInconsistentUtf8(text);
    if (fixed !== text) {
      steps?.push('apply:decode_inconsistent_utf8');
      return fixed;
    }
  }

  // Latin-1 that was meant as Windows-1252: its C1 controls are really Windows-1252 punctuation.
  // (ftfy's own check for "windows-1252" among the possible codecs never succeeds: it only lists
  // the sloppy variant.)
  if (latin1Possible) {
    const fixed = decodeStrictCp1252(encodeCharmap(text, LATIN_1));
    if (fixed !== null && fixed !== text) {
      steps?.push('encode:latin-1', 'decode:windows-1252');
      return fixed;
    }
  }

  if (/[\x80-\x9f]/.test(text)) {
    steps?.push('transcode:fix_c1_controls');
    return fixC1Controls(text);
  }
  return text;
}

/** ftfy `decode_inconsistent_utf8`: re-decodes embedded runs that look like UTF-8 mojibake. */
export function decodeInconsistentUtf8(text: string): string {
  return text.replace(UTF8_DETECTOR, (run) =>
    run.length < text.length && isBad(run) ? fixEncoding(run) : run,
  );
}

/** ftfy `fix_encoding`: repeats the one-step repair until the text stops changing. */
export function fixEncoding(text: string, steps: FtfyStep[] | null = null): string {
  let current = text;
  for (;;) {
    const next = fixEncodingOneStep(current, steps);
    if (next === current) return next;
    current = next;
  }
}

const SIMPLE_FIXERS: ReadonlyArray<readonly [string, (t: string) => string]> = [
  ['fix_c1_controls', fixC1Controls],
  ['fix_latin_ligatures', fixLatinLigatures],
  ['fix_character_width', fixCharacterWidth],
  ['uncurl_quotes', uncurlQuotes],
  ['fix_line_breaks', fixLineBreaks],
  ['fix_surrogates', fixSurrogates],
  ['remove_terminal_escapes', removeTerminalEscapes],
  ['remove_control_chars', removeControlChars],
];

/**
 * ftfy `fix_and_explain` on one segment: all fixers in order, repeated until a pass changes
 * nothing. `steps`, when given, receives the explanation (`action:name`).
 */
export function fixSegment(
  segment: string,
  unescapeHtmlOn: boolean,
  steps: FtfyStep[] | null = null,
): string {
  let text = segment;
  const html = unescapeHtmlOn && !text.includes('<');
  for (;;) {
    const original = text;
    if (html) {
      const fixed = unescapeHtml(text);
      if (fixed !== text) steps?.push('apply:unescape_html');
      text = fixed;
    }
    text = fixEncoding(text, steps);
    for (const [name, fixer] of SIMPLE_FIXERS) {
      const fixed = fixer(text);
      if (fixed !== text) steps?.push(`apply:${name}`);
      text = fixed;
    }
    const normalized = text.normalize('NFC');
    if (normalized !== text) steps?.push('normalize:NFC');
    text = normalized;
    if (text === original) return text;
  }
}

/**
 * `ftfy.fix_text(text)` with the default config. The text is fixed line by line (segments end
 * after `\n`); once a segment contains `<`, HTML unescaping stays off for the rest of the text.
 */
export function fixText(text: string, steps: FtfyStep[] | null = null): string {
  if (typeof text !== 'string') throw new TypeError(`fixText: expected a string, got ${typeof text}`);
  const maxSegment = 1_000_000;
  let out = '';
  let unescapeHtmlOn = true;
  let pos = 0;
  while (pos < text.length) {
    let end = text.indexOf('\n', pos) + 1;
    if (end === 0) end = text.length;
    if (end - pos > maxSegment) end = pos + maxSegment;
    const segment = text.slice(pos, end);
    if (unescapeHtmlOn && segment.includes('<')) unescapeHtmlOn = false;
    out += fixSegment(segment, unescapeHtmlOn, steps);
    pos = end;
  }
  return out;
}
