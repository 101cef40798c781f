/**
 * The byte-level half of ftfy's mojibake repair: the single-byte codecs it re-encodes text with
 * (including its "sloppy" Windows code pages), the byte fix-ups applied before re-decoding, and
 * the "utf-8-variants" decoder (UTF-8 plus CESU-8 surrogate pairs and Java's C0 80 NUL).
 *
 * Bytes are carried as binary strings (one char per byte, U+0000-U+00FF) so that byte patterns
 * can be plain regular expressions, as they are `bytes` patterns in Python.
 */
import { CHARMAPS } from './ftfy-data.js';

/** One single-byte codec: its name as ftfy spells it, and both directions of its table. */
export interface Charmap {
  readonly name: string;
  readonly sloppy: boolean;
  /** byte -> char, 256 entries */
  readonly decodeTable: readonly string[];
  /** char code -> byte */
  readonly encodeTable: ReadonlyMap<number, number>;
}

function buildCharmap(name: string, sloppy: boolean, high: string): Charmap {
  if (high.length !== 128)
    throw new Error(`ftfy-data: codec ${name} has ${high.length} high chars, expected 128`);
  const decodeTable: string[] = [];
  for (let b = 0; b < 0x80; b++) decodeTable.push(String.fromCharCode(b));
  // The sloppy codecs use byte 0x1A (SUBSTITUTE) for U+FFFD so lost bytes can be re-encoded.
  if (sloppy) decodeTable[0x1a] = '\ufffd';
  for (const ch of high) decodeTable.push(ch);
  const encodeTable = new Map<number, number>();
  for (let b = 0; b < 256; b++) encodeTable.set(decodeTable[b].charCodeAt(0), b);
  return { name, sloppy, decodeTable, encodeTable };
}

/** The codecs in the order ftfy tries them. */
export const CHARMAP_CODECS: readonly Charmap[] = CHARMAPS.map((c) => buildCharmap(c.name, c.sloppy, c.high));

function codec(name: string): Charmap {
  const found = CHARMAP_CODECS.find((c) => c.name === name);
  if (!found) throw new Error(`ftfy-codecs: unknown codec ${name}`);
  return found;
}

export const LATIN_1 = codec('latin-1');
export const SLOPPY_WINDOWS_1252 = codec('sloppy-windows-1252');

/** Bytes that Python's strict cp1252 codec cannot decode. */
const CP1252_UNDEFINED = new Set([0x81, 0x8d, 0x8f, 0x90, 0x9d]);

/** True when every char of `text` is in the codec's table (Python: `possible_encoding`). */
export function possibleEncoding(text: string, cm: Charmap): boolean {
  for (let i = 0; i < text.length; i++) {
    if (!cm.encodeTable.has(text.charCodeAt(i))) return false;
  }
  return true;
}

/** `text.encode(codec)` as a binary string; the caller has checked `possibleEncoding`. */
export function encodeCharmap(text: string, cm: Charmap): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const b = cm.encodeTable.get(text.charCodeAt(i));
    if (b === undefined)
      throw new Error(`ftfy-codecs: ${cm.name} cannot encode U+${text.charCodeAt(i).toString(16)}`);
    out += String.fromCharCode(b);
  }
  return out;
}

/** `bytes.decode(codec)` for a binary string. */
export function decodeCharmap(bytes: string, cm: Charmap): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += cm.decodeTable[bytes.charCodeAt(i)];
  return out;
}

/** Python's strict `bytes.decode('windows-1252')`; null where Python raises UnicodeDecodeError. */
export function decodeStrictCp1252(bytes: string): string | null {
  for (let i = 0; i < bytes.length; i++) {
    if (CP1252_UNDEFINED.has(bytes.charCodeAt(i))) return null;
  }
  // Unlike the sloppy table, the real codec decodes 0x1A as itself.
  return decodeCharmap(bytes, SLOPPY_WINDOWS_1252).replaceAll('\ufffd', '\x1a');
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeStrictUtf8(bytes: string, start: number, end: number): string | null {
  const view = new Uint8Array(end - start);
  for (let i = start; i < end; i++) view[i - start] = bytes.charCodeAt(i);
  try {
    return STRICT_UTF8.decode(view);
  } catch {
    return null;
  }
}

const inRange = (b: number, lo: number, hi: number): boolean => b >= lo && b <= hi;

/**
 * ftfy's "utf-8-variants" decoder: strict UTF-8, except that C0 80 is NUL and a CESU-8 pair
 * (ED A0-AF 80-BF ED B0-BF 80-BF) is the astral code point it spells. Any other surrogate
 * encoding is an error. Returns null where Python raises UnicodeDecodeError.
 */
export function decodeUtf8Variants(bytes: string): string | null {
  let out = '';
  let segmentStart = 0;
  let i = 0;
  const at = (k: number): number => (k < bytes.length ? bytes.charCodeAt(k) : -1);
  while (i < bytes.length) {
    let special: string | null = null;
    let width = 0;
    if (at(i) === 0xc0 && at(i + 1) === 0x80) {
      special = '\0';
      width = 2;
    } else if (
      at(i) === 0xed &&
      inRange(at(i + 1), 0xa0, 0xaf) &&
      inRange(at(i + 2), 0x80, 0xbf) &&
      at(i + 3) === 0xed &&
      inRange(at(i + 4), 0xb0, 0xbf) &&
      inRange(at(i + 5), 0x80, 0xbf)
    ) {
      const cp =
        ((at(i + 1) & 0x0f) << 16) +
        ((at(i + 2) & 0x3f) << 10) +
        ((at(i + 4) & 0x0f) << 6) +
        (at(i + 5) & 0x3f) +
        0x10000;
      special = String.fromCodePoint(cp);
      width = 6;
    }
    if (special === null) {
      i++;
      continue;
    }
    const before = decodeStrictUtf8(bytes, segmentStart, i);
    if (before === null) return null;
    out += before + special;
    i += width;
    segmentStart = i;
  }
  const rest = decodeStrictUtf8(bytes, segmentStart, bytes.length);
  return rest === null ? null : out + rest;
}

/**
 * UTF-8 sequences that would be valid if a Windows-1252 step had not turned byte A0 into a
 * space (lead bytes chosen by ftfy for likely characters).
 */
export const ALTERED_UTF8 =
  /[\xc2\xc3\xc5\xce\xd0\xd9] |[\xe2\xe3] [\x80-\x84\x86-\x9f\xa1-\xbf]|[\xe0-\xe3][\x80-\x84\x86-\x9f\xa1-\xbf] |\xf0 [\x80-\xbf][\x80-\xbf]|\xf0[\x80-\xbf] [\x80-\xbf]|\xf0[\x80-\xbf][\x80-\xbf] /g;

// "à" followed by a space, unless the space starts a Portuguese contraction or a double space.
const A_GRAVE_WORD = /\xc3 (?! |quele|quela|quilo|s )/g;

/** ftfy `restore_byte_a0`: puts byte A0 back where a space broke a UTF-8 sequence. */
export function restoreByteA0(bytes: string): string {
  const step = bytes.replace(A_GRAVE_WORD, '\xc3\xa0 ');
  return step.replace(ALTERED_UTF8, (m) => m.replaceAll(' ', '\xa0'));
}

/**
 * UTF-8 / CESU-8 sequences in which a sloppy codec lost bytes (0x1A, sometimes `?`), and any
 * remaining 0x1A.
 */
const LOSSY_UTF8 = new RegExp(
  [
    '[\\xc2-\\xdf]\\x1a',
    '[\\xc2-\\xc3][?]',
    '\\xed[\\xa0-\\xaf][\\x1a?]\\xed[\\xb0-\\xbf][\\x1a?\\x80-\\xbf]',
    '\\xed[\\xa0-\\xaf][\\x1a?\\x80-\\xbf]\\xed[\\xb0-\\xbf][\\x1a?]',
    '[\\xe0-\\xef][\\x1a?][\\x1a\\x80-\\xbf]',
    '[\\xe0-\\xef][\\x1a\\x80-\\xbf][\\x1a?]',
    '[\\xf0-\\xf4][\\x1a?][\\x1a\\x80-\\xbf][\\x1a\\x80-\\xbf]',
    '[\\xf0-\\xf4][\\x1a\\x80-\\xbf][\\x1a?][\\x1a\\x80-\\xbf]',
    '[\\xf0-\\xf4][\\x1a\\x80-\\xbf][\\x1a\\x80-\\xbf][\\x1a?]',
    '\\x1a',
  ].join('|'),
  'g',
);

/** ftfy `replace_lossy_sequences`: such sequences become the UTF-8 bytes of U+FFFD. */
export function replaceLossySequences(bytes: string): string {
  return bytes.replace(LOSSY_UTF8, '\xef\xbf\xbd');
}
