import { writeFileSync } from 'node:fs';

/** Minimal F32 safetensors writer for test inputs (the format: u64 header length, JSON header, data). */
export function writeF32Safetensors(
  path: string,
  tensors: Record<string, { shape: number[]; data: ArrayLike<number> }>,
): void {
  const header: Record<string, unknown> = {};
  let offset = 0;
  const chunks: Buffer[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    const buf = Buffer.from(Float32Array.from(t.data).buffer);
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + buf.length] };
    offset += buf.length;
    chunks.push(buf);
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  writeFileSync(path, Buffer.concat([len, Buffer.from(json), ...chunks]));
}
