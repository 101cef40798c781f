// Tokenize and decode (TypeScript): node --experimental-strip-types examples/tokens.ts a.png b.jpg
import { writeFileSync } from 'node:fs';
import { QLIP, type RgbImage, type Tokens } from 'qlip';
import sharp from 'sharp';

const q = await QLIP.fromPretrained(process.env.QLIP_MODEL, { backend: 'wasm' });
console.error(q.describe());
const tokens: Tokens = await q.tokenize(process.argv.slice(2));
const [rows, cols] = tokens.grid;
for (let i = 0; i < tokens.batch; i++) {
  const grid = tokens.indices.subarray(i * rows * cols, (i + 1) * rows * cols);
  console.log(
    `${process.argv[2 + i]}: ${rows}x${cols} tokens of ${tokens.bits} bits: ${[...grid].join(' ')}`,
  );
}
const images: RgbImage[] = await q.decode(tokens);
for (const [i, img] of images.entries()) {
  const png = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .png()
    .toBuffer();
  writeFileSync(`reconstruction-${i}.png`, png);
}
q.dispose();
