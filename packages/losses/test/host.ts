/** Float64 host references for the loss tests (independent of tfjs). */

/** Values for a tfjs tensor (tfjs rejects Float64Array). */
export function f32(x: ArrayLike<number>): Float32Array {
  return Float32Array.from(x);
}

/** Normal samples rounded to float32, so the tensor holds exactly what the host reference uses. */
export function randn(seed: number, n: number): Float64Array {
  // Small LCG + Box-Muller so the tests do not share the Rng under test elsewhere.
  let s = seed >>> 0;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 1) / 4294967297;
  };
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++)
    out[i] = Math.fround(Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
  return out;
}

export function normalizeRows(x: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += x[r * cols + c]! ** 2;
    const n = Math.max(Math.sqrt(s), 1e-12);
    for (let c = 0; c < cols; c++) out[r * cols + c] = x[r * cols + c]! / n;
  }
  return out;
}

/**
 * Symmetric InfoNCE in float64. groups null: plain CLIP (targets = identity). Otherwise soft targets
 * uniform over same-group items, minus the target entropy (KL).
 */
export function infoNceHost(
  img: Float64Array,
  txt: Float64Array,
  b: number,
  d: number,
  logitScale: number,
  groups: number[] | null,
): number {
  const s = Math.exp(Math.min(logitScale, Math.log(100)));
  const i = normalizeRows(img, b, d);
  const t = normalizeRows(txt, b, d);
  const logits = (r: number, c: number) => {
    let v = 0;
    for (let k = 0; k < d; k++) v += i[r * d + k]! * t[c * d + k]!;
    return s * v;
  };
  const g = groups ?? Array.from({ length: b }, (_, k) => k);
  const dir = (transpose: boolean) => {
    let total = 0;
    for (let r = 0; r < b; r++) {
      const row = Array.from({ length: b }, (_, c) => (transpose ? logits(c, r) : logits(r, c)));
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
      const pos = [...Array(b).keys()].filter((c) => g[c] === g[r]);
      let ce = 0;
      for (const c of pos) ce -= (row[c]! - lse) / pos.length;
      total += ce - Math.log(pos.length);
    }
    return total / b;
  };
  return (dir(false) + dir(true)) / 2;
}

/** Central finite difference of f at x along coordinate k. */
export function centralDiff(f: (x: Float64Array) => number, x: Float64Array, k: number, h = 1e-5): number {
  const xp = Float64Array.from(x);
  const xm = Float64Array.from(x);
  xp[k]! += h;
  xm[k]! -= h;
  return (f(xp) - f(xm)) / (2 * h);
}
