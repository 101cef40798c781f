import { EVD, Matrix, SVD } from 'ml-matrix';

/** Rows of features: `data` is row-major [n, dim] (e.g. pooled Inception activations, one row per image). */
export interface FeatureSet {
  data: ArrayLike<number>;
  n: number;
  dim: number;
}

/** Gaussian statistics of a feature set, in float64. */
export interface FeatureStats {
  n: number;
  dim: number;
  /** [dim] */
  mean: Float64Array;
  /** [dim, dim] row-major sample covariance (divides by n - 1, as `np.cov(x, rowvar=False)`). */
  cov: Float64Array;
}

function checkSet(x: FeatureSet, what: string): void {
  if (!Number.isInteger(x.n) || !Number.isInteger(x.dim) || x.n < 2 || x.dim < 1) {
    throw new Error(`${what}: need at least 2 rows and 1 column, got n=${x.n}, dim=${x.dim}`);
  }
  if (x.data.length !== x.n * x.dim) {
    throw new Error(`${what}: data has ${x.data.length} values, expected n*dim = ${x.n}*${x.dim}`);
  }
}

/**
 * Streaming mean and covariance in float64. Rows are shifted by the first row seen before the
 * sums are taken, which keeps `sum(x x^T) - n m m^T` from cancelling when features have large means.
 */
export class FeatureStatsAccumulator {
  readonly dim: number;
  private n = 0;
  private shift: Float64Array | undefined;
  private readonly sum: Float64Array;
  private readonly outer: Float64Array; // upper triangle of sum((x - shift)(x - shift)^T), [dim, dim]
  private readonly row: Float64Array;

  constructor(dim: number) {
    if (!Number.isInteger(dim) || dim < 1)
      throw new Error(`FeatureStatsAccumulator: dim must be a positive integer, got ${dim}`);
    this.dim = dim;
    this.sum = new Float64Array(dim);
    this.outer = new Float64Array(dim * dim);
    this.row = new Float64Array(dim);
  }

  /** Add rows: `data` is row-major [rows, dim]. */
  add(data: ArrayLike<number>): void {
    const d = this.dim;
    if (data.length % d !== 0) {
      throw new Error(
        `FeatureStatsAccumulator.add: ${data.length} values is not a whole number of ${d}-d rows`,
      );
    }
    const rows = data.length / d;
    if (!this.shift && rows > 0) this.shift = Float64Array.from({ length: d }, (_, j) => data[j]);
    const shift = this.shift as Float64Array;
    const r = this.row;
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < d; j++) {
        const v = data[i * d + j] - shift[j];
        if (!Number.isFinite(v))
          throw new Error(
            `FeatureStatsAccumulator.add: non-finite feature at row ${this.n + i}, column ${j}`,
          );
        r[j] = v;
        this.sum[j] += v;
      }
      for (let j = 0; j < d; j++) {
        const rj = r[j];
        if (rj === 0) continue;
        const base = j * d;
        for (let k = j; k < d; k++) this.outer[base + k] += rj * r[k];
      }
    }
    this.n += rows;
  }

  stats(): FeatureStats {
    const { n, dim: d } = this;
    if (n < 2) throw new Error(`FeatureStatsAccumulator.stats: need at least 2 rows, have ${n}`);
    const shift = this.shift as Float64Array;
    const m = this.sum.map((s) => s / n); // mean of the shifted rows
    const cov = new Float64Array(d * d);
    for (let j = 0; j < d; j++) {
      for (let k = j; k < d; k++) {
        const v = (this.outer[j * d + k] - n * m[j] * m[k]) / (n - 1);
        cov[j * d + k] = v;
        cov[k * d + j] = v;
      }
    }
    return { n, dim: d, mean: m.map((v, j) => v + shift[j]), cov };
  }
}

/** Mean and sample covariance of a feature set (float64). */
export function featureStats(x: FeatureSet): FeatureStats {
  checkSet(x, 'featureStats');
  const acc = new FeatureStatsAccumulator(x.dim);
  acc.add(x.data);
  return acc.stats();
}

function toMatrix(data: Float64Array, rows: number, cols: number): Matrix {
  const m = new Matrix(rows, cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) m.set(i, j, data[i * cols + j]);
  return m;
}

/**
 * tr sqrt(S1 S2) for symmetric PSD S1, S2 via two symmetric eigendecompositions (ml-matrix EVD):
 * with S1 = V L V^T and W = V L^1/2, S1 S2 is similar to the symmetric W^T S2 W, whose eigenvalues
 * have the wanted square roots. Eigenvalues at round-off level are taken as 0 (see `roundoffToZero`). Equals the real part of
 * `trace(scipy.linalg.sqrtm(S1 @ S2))` and stays stable when S1 or S2 is singular.
 */
export function traceSqrtProduct(s1: Float64Array, s2: Float64Array, dim: number): number {
  const e1 = new EVD(toMatrix(s1, dim, dim), { assumeSymmetric: true });
  const lam = roundoffToZero(e1.realEigenvalues, dim);
  const w = e1.eigenvectorMatrix.clone(); // [dim, dim], columns scaled by sqrt(lambda)
  for (let j = 0; j < dim; j++) {
    const f = Math.sqrt(lam[j]);
    for (let i = 0; i < dim; i++) w.set(i, j, w.get(i, j) * f);
  }
  const m = w
    .transpose()
    .mmul(toMatrix(s2, dim, dim))
    .mmul(w);
  // Symmetrise: the products above leave O(eps) asymmetry that the symmetric EVD would ignore anyway.
  const sym = m.add(m.transpose()).mul(0.5);
  const e2 = new EVD(sym, { assumeSymmetric: true });
  return roundoffToZero(e2.realEigenvalues, dim).reduce((s, v) => s + Math.sqrt(v), 0);
}

/**
 * Eigenvalues of a PSD matrix with the round-off ones (below dim * eps * largest, or negative) set to 0.
 * Without this a singular covariance (fewer samples than dimensions) adds sqrt(1e-16)-sized terms per
 * null direction to the trace.
 */
function roundoffToZero(values: number[], dim: number): number[] {
  const top = values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const tol = dim * Number.EPSILON * top;
  return values.map((v) => (v > tol ? v : 0));
}

/**
 * Frechet distance between two Gaussians:
 * `|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr sqrt(S1 S2)` (the pytorch-fid formula), in float64.
 */
export function frechetDistanceFromStats(a: FeatureStats, b: FeatureStats): number {
  if (a.dim !== b.dim)
    throw new Error(`frechetDistanceFromStats: feature dims differ (${a.dim} vs ${b.dim})`);
  const d = a.dim;
  let diff = 0;
  let tr = 0;
  for (let j = 0; j < d; j++) {
    diff += (a.mean[j] - b.mean[j]) ** 2;
    tr += a.cov[j * d + j] + b.cov[j * d + j];
  }
  return diff + tr - 2 * traceSqrtProduct(a.cov, b.cov, d);
}

/**
 * Frechet distance between two feature sets (rows = samples). When both sets have fewer rows than
 * dimensions, tr sqrt(S1 S2) is taken as the nuclear norm of the small [n1, n2] matrix
 * A B^T / sqrt((n1-1)(n2-1)) of centred rows (ml-matrix SVD) -- the same number, much cheaper than
 * two [dim, dim] eigendecompositions. Otherwise it goes through {@link frechetDistanceFromStats}.
 *
 * Not comparable with published FID unless the features come from the standard FID Inception network.
 */
export function frechetDistance(a: FeatureSet, b: FeatureSet): number {
  checkSet(a, 'frechetDistance (first set)');
  checkSet(b, 'frechetDistance (second set)');
  if (a.dim !== b.dim) throw new Error(`frechetDistance: feature dims differ (${a.dim} vs ${b.dim})`);
  const sa = featureStats(a);
  const sb = featureStats(b);
  if (Math.max(a.n, b.n) >= a.dim) return frechetDistanceFromStats(sa, sb);
  const d = a.dim;
  const centred = (x: FeatureSet, s: FeatureStats): Matrix => {
    const m = new Matrix(x.n, d); // [n, dim]
    const f = 1 / Math.sqrt(x.n - 1);
    for (let i = 0; i < x.n; i++)
      for (let j = 0; j < d; j++) m.set(i, j, (x.data[i * d + j] - s.mean[j]) * f);
    return m;
  };
  const cross = centred(a, sa).mmul(centred(b, sb).transpose()); // [n1, n2]
  const nuclear = new SVD(cross, {
    computeLeftSingularVectors: false,
    computeRightSingularVectors: false,
    autoTranspose: true,
  }).diagonal.reduce((s, v) => s + v, 0);
  let diff = 0;
  let tr = 0;
  for (let j = 0; j < d; j++) {
    diff += (sa.mean[j] - sb.mean[j]) ** 2;
    tr += sa.cov[j * d + j] + sb.cov[j * d + j];
  }
  return diff + tr - 2 * nuclear;
}
