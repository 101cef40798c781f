import { DTYPE_SIZE, DTYPES, type DType, numel } from './types.js';

/** Largest JSON header accepted (the limit of the reference Rust implementation); checked before allocating. */
export const MAX_HEADER_BYTES = 100_000_000;

/** A validated header entry; offsets are relative to the data section (the byte after the header). */
export interface HeaderTensor {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

export interface ParsedHeader {
  metadata: Record<string, string>;
  /** Sorted by data offset, contiguous from 0 to the end of the data section. */
  tensors: HeaderTensor[];
}

/** A header value for an error message: short, and safe on hostile input (deep nesting, huge arrays). */
function fmt(v: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(v) ?? String(v);
  } catch {
    return '(unprintable value)';
  }
  text = text.replace(/,/g, ', ');
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
const kind = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`);
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * Validate a safetensors JSON header against the size of the data section that follows it. Every fault
 * throws an Error that starts with `file`: bad UTF-8/JSON, wrong entry fields, unknown dtypes, bad shapes,
 * offsets outside the data section, sizes that disagree with the shape, overlaps, and unused bytes
 * (the reference implementation requires the tensors to tile the data section exactly).
 */
export function parseHeader(file: string, headerBytes: Uint8Array, dataSize: number): ParsedHeader {
  const fail = (fault: string): never => {
    throw new Error(`${file}: invalid safetensors file: ${fault}`);
  };
  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    fail('the header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    fail(`the header is not valid JSON (${(err as Error).message})`);
  }
  if (!isObject(header)) return fail(`the header is ${kind(header)}, expected a JSON object`);

  let metadata: Record<string, string> = {};
  const tensors: HeaderTensor[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(raw, fail);
      continue;
    }
    tensors.push(parseEntry(name, raw, dataSize, fail));
  }

  checkTiling(tensors, dataSize, fail);
  return { metadata, tensors };
}

/** One tensor entry: dtype known, shape of counts, offsets inside the data section and matching the shape. */
function parseEntry(
  name: string,
  raw: unknown,
  dataSize: number,
  fail: (fault: string) => never,
): HeaderTensor {
  const at = `tensor ${JSON.stringify(name)}`;
  if (!isObject(raw))
    return fail(`${at}: entry is ${kind(raw)}, expected an object with dtype, shape, data_offsets`);
  for (const field of ['dtype', 'shape', 'data_offsets']) {
    if (!(field in raw)) fail(`${at}: missing "${field}"`);
  }
  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== 'string') return fail(`${at}: "dtype" is ${kind(dtype)}, expected a string`);
  if (!(DTYPES as readonly string[]).includes(dtype)) {
    return fail(`${at}: unknown dtype ${JSON.stringify(dtype)} (supported: ${DTYPES.join(', ')})`);
  }
  if (!Array.isArray(shape)) return fail(`${at}: "shape" is ${kind(shape)}, expected an array of integers`);
  shape.forEach((d, i) => {
    if (!isCount(d))
      fail(`${at}: shape ${fmt(shape)} has dimension ${i} = ${fmt(d)}, expected a non-negative integer`);
  });
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    return fail(`${at}: "data_offsets" is ${fmt(offsets)}, expected [begin, end] with non-negative integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) fail(`${at}: data_offsets [${begin}, ${end}] have begin > end`);
  if (end > dataSize) {
    fail(`${at}: data_offsets [${begin}, ${end}] run past the end of the data section (${dataSize} bytes)`);
  }
  const need = numel(shape as number[]) * DTYPE_SIZE[dtype as DType];
  if (end - begin !== need) {
    fail(
      `${at}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes but shape ${fmt(shape)} of ${dtype} needs ${need}`,
    );
  }
  return { name, dtype: dtype as DType, shape: shape as number[], begin, end };
}

/** The tensors (sorted here by offset) must tile the data section exactly: no overlap, no hole. */
function checkTiling(tensors: HeaderTensor[], dataSize: number, fail: (fault: string) => never): void {
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: HeaderTensor | undefined;
  for (const t of tensors) {
    if (t.begin < pos) {
      fail(
        `tensors ${JSON.stringify(prev!.name)} [${prev!.begin}, ${prev!.end}] and ${JSON.stringify(t.name)} [${t.begin}, ${t.end}] overlap`,
      );
    }
    if (t.begin > pos) {
      fail(
        `hole in the data section: bytes [${pos}, ${t.begin}) before tensor ${JSON.stringify(t.name)} belong to no tensor`,
      );
    }
    pos = t.end;
    prev = t;
  }
  if (pos !== dataSize)
    fail(`hole in the data section: bytes [${pos}, ${dataSize}) after the last tensor belong to no tensor`);
}

function parseMetadata(raw: unknown, fail: (fault: string) => never): Record<string, string> {
  if (!isObject(raw)) return fail(`"__metadata__" is ${kind(raw)}, expected an object of string values`);
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string')
      fail(`"__metadata__" value ${JSON.stringify(k)} is ${kind(v)}, expected a string`);
  }
  return { ...(raw as Record<string, string>) };
}

/**
 * The 8-byte length prefix plus the JSON header, space-padded so the data section starts on an 8-byte
 * boundary. Keys are written in the given order (a JS object would move integer-like names first).
 */
export function encodeHeader(tensors: readonly HeaderTensor[], metadata?: Record<string, string>): Buffer {
  const parts: string[] = [];
  if (metadata && Object.keys(metadata).length > 0) parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  for (const t of tensors) {
    parts.push(
      `${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${t.begin},${t.end}]}`,
    );
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  const out = Buffer.alloc(8 + padded, 0x20);
  out.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(out, 8);
  return out;
}
