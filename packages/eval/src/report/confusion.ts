import sharp from 'sharp';

export interface ConfusionPlotOptions {
  /** Cell size in pixels (default 28). */
  cell?: number;
  /** Title drawn above the matrix. */
  title?: string;
  /**
   * Colour by row-normalised counts (each true class sums to 1, default) or by raw counts over the
   * largest cell.
   */
  normalize?: 'row' | 'max';
}

function escapeXml(s: string): string {
  return s.replace(
    /[<>&'"]/g,
    (ch) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[ch] as string,
  );
}

/** White -> dark blue ramp for a value in [0, 1]. */
function shade(t: number): string {
  const lerp = (a: number, b: number) => Math.round(a + (b - a) * t);
  return `rgb(${lerp(255, 8)},${lerp(255, 48)},${lerp(255, 107)})`;
}

/**
 * SVG picture of a confusion matrix: rows are true classes, columns predictions, cells coloured by
 * share and labelled with their count, class names along both axes.
 * @param matrix [C, C] row-major counts (as `confusionMatrix` returns)
 */
export function confusionMatrixSvg(
  matrix: ArrayLike<number>,
  labels: string[],
  opts: ConfusionPlotOptions = {},
): string {
  const c = labels.length;
  if (c === 0 || matrix.length !== c * c) {
    throw new Error(
      `confusionMatrixSvg: matrix has ${matrix.length} cells, expected ${c}x${c} for ${c} labels`,
    );
  }
  const size = opts.cell ?? 28;
  const font = Math.max(8, Math.round(size * 0.4));
  const longest = labels.reduce((m, l) => Math.max(m, l.length), 0);
  const margin = Math.ceil(longest * font * 0.62) + 16; // room for the class names
  const top = margin + (opts.title ? font * 2 : 0);
  const footer = 'rows: true class, columns: predicted';
  const width = Math.max(margin + c * size + 8, Math.ceil(footer.length * font * 0.62) + 16);
  const height = top + c * size + font * 2 + 8;
  let max = 0;
  for (let i = 0; i < matrix.length; i++) max = Math.max(max, matrix[i]);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, sans-serif" font-size="${font}">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
  ];
  if (opts.title)
    parts.push(
      `<text x="${width / 2}" y="${font * 1.5}" text-anchor="middle" font-weight="bold">${escapeXml(opts.title)}</text>`,
    );
  for (let r = 0; r < c; r++) {
    let rowSum = 0;
    for (let k = 0; k < c; k++) rowSum += matrix[r * c + k];
    const y = top + r * size;
    parts.push(
      `<text x="${margin - 6}" y="${y + size / 2}" text-anchor="end" dominant-baseline="central">${escapeXml(labels[r])}</text>`,
    );
    for (let k = 0; k < c; k++) {
      const v = matrix[r * c + k];
      const t = (opts.normalize ?? 'row') === 'row' ? (rowSum > 0 ? v / rowSum : 0) : max > 0 ? v / max : 0;
      const x = margin + k * size;
      parts.push(
        `<rect x="${x}" y="${y}" width="${size}" height="${size}" fill="${shade(t)}" stroke="#cccccc" stroke-width="0.5"/>`,
      );
      if (v > 0) {
        parts.push(
          `<text x="${x + size / 2}" y="${y + size / 2}" text-anchor="middle" dominant-baseline="central" fill="${t > 0.5 ? '#ffffff' : '#000000'}">${v}</text>`,
        );
      }
    }
  }
  for (let k = 0; k < c; k++) {
    const x = margin + k * size + size / 2;
    // Column names run upwards so long class names fit above the matrix.
    parts.push(
      `<text transform="translate(${x},${top - 6}) rotate(-90)" dominant-baseline="central">${escapeXml(labels[k])}</text>`,
    );
  }
  parts.push(
    `<text x="${width / 2}" y="${top + c * size + font * 1.5}" text-anchor="middle">${footer}</text>`,
    '</svg>',
  );
  return parts.join('\n');
}

/** The confusion matrix rendered to PNG (SVG rasterised by sharp/librsvg). */
export async function confusionMatrixPng(
  matrix: ArrayLike<number>,
  labels: string[],
  opts: ConfusionPlotOptions = {},
): Promise<Buffer> {
  return sharp(Buffer.from(confusionMatrixSvg(matrix, labels, opts)))
    .png()
    .toBuffer();
}
