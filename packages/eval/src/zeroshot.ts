/** Row-major matrix of `rows` vectors of length `cols` (embeddings, scores). */
export interface Rows {
  data: Float32Array;
  rows: number;
  cols: number;
}

function checkRows(m: Rows, what: string): void {
  if (m.data.length !== m.rows * m.cols) {
    throw new Error(`${what}: data has ${m.data.length} values, expected rows*cols = ${m.rows}*${m.cols}`);
  }
}

/** Copy of `m` with every row scaled to unit L2 norm (rows of zeros stay zero). */
export function l2NormalizeRows(m: Rows): Rows {
  checkRows(m, 'l2NormalizeRows');
  const out = new Float32Array(m.data.length);
  for (let i = 0; i < m.rows; i++) {
    let s = 0;
    for (let j = 0; j < m.cols; j++) s += m.data[i * m.cols + j] ** 2;
    const f = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < m.cols; j++) out[i * m.cols + j] = m.data[i * m.cols + j] * f;
  }
  return { data: out, rows: m.rows, cols: m.cols };
}

/**
 * Prompt ensembling (CLIP): for each class, the mean of its L2-normalised text embeddings over the
 * templates, normalised again.
 * @param textEmbeddings [classes * templates, D] ordered class-major (all templates of class 0 first)
 * @returns the zero-shot classifier, [classes, D], unit rows
 */
export function ensemblePrompts(textEmbeddings: Rows, numClasses: number): Rows {
  checkRows(textEmbeddings, 'ensemblePrompts');
  const { rows, cols } = textEmbeddings;
  if (!Number.isInteger(numClasses) || numClasses < 1 || rows % numClasses !== 0) {
    throw new Error(
      `ensemblePrompts: ${rows} text embeddings do not split evenly into ${numClasses} classes`,
    );
  }
  const t = rows / numClasses;
  const unit = l2NormalizeRows(textEmbeddings);
  const mean = new Float32Array(numClasses * cols);
  for (let c = 0; c < numClasses; c++) {
    for (let k = 0; k < t; k++) {
      const r = (c * t + k) * cols;
      for (let j = 0; j < cols; j++) mean[c * cols + j] += unit.data[r + j] / t;
    }
  }
  return l2NormalizeRows({ data: mean, rows: numClasses, cols });
}

/**
 * Cosine similarity of every image embedding with every class embedding.
 * @param images [N, D]; @param classes [C, D] -> [N, C]
 */
export function cosineScores(images: Rows, classes: Rows): Rows {
  if (images.cols !== classes.cols)
    throw new Error(`cosineScores: embedding sizes differ (${images.cols} vs ${classes.cols})`);
  const a = l2NormalizeRows(images);
  const b = l2NormalizeRows(classes);
  const out = new Float32Array(images.rows * classes.rows);
  const d = images.cols;
  for (let i = 0; i < images.rows; i++) {
    for (let c = 0; c < classes.rows; c++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += a.data[i * d + j] * b.data[c * d + j];
      out[i * classes.rows + c] = s;
    }
  }
  return { data: out, rows: images.rows, cols: classes.rows };
}

function checkLabels(scores: Rows, labels: ArrayLike<number>, what: string): void {
  checkRows(scores, what);
  if (labels.length !== scores.rows)
    throw new Error(`${what}: ${labels.length} labels for ${scores.rows} score rows`);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (!Number.isInteger(l) || l < 0 || l >= scores.cols) {
      throw new Error(`${what}: label ${l} at position ${i} is not a class index in [0, ${scores.cols})`);
    }
  }
}

/** Index of the largest score in each row (first one on ties). [N, C] -> [N] */
export function argmaxRows(scores: Rows): Int32Array {
  checkRows(scores, 'argmaxRows');
  const out = new Int32Array(scores.rows);
  for (let i = 0; i < scores.rows; i++) {
    let best = 0;
    for (let c = 1; c < scores.cols; c++)
      if (scores.data[i * scores.cols + c] > scores.data[i * scores.cols + best]) best = c;
    out[i] = best;
  }
  return out;
}

/**
 * Fraction of rows whose true class is among the k highest scores. Classes are ranked by score, then
 * by index (the order `argmaxRows` uses), so top-1 agrees with the argmax predictions even on ties.
 */
export function topKAccuracy(scores: Rows, labels: ArrayLike<number>, k: number): number {
  checkLabels(scores, labels, 'topKAccuracy');
  if (!Number.isInteger(k) || k < 1) throw new Error(`topKAccuracy: k must be a positive integer, got ${k}`);
  let hit = 0;
  for (let i = 0; i < scores.rows; i++) {
    const s = scores.data[i * scores.cols + labels[i]];
    let higher = 0;
    for (let c = 0; c < scores.cols; c++) {
      const v = scores.data[i * scores.cols + c];
      if (v > s || (v === s && c < labels[i])) higher++;
    }
    if (higher < k) hit++;
  }
  return hit / scores.rows;
}

/** Confusion matrix counts, row = true class, column = predicted class: [C, C] row-major. */
export function confusionMatrix(
  predictions: ArrayLike<number>,
  labels: ArrayLike<number>,
  numClasses: number,
): Int32Array {
  if (predictions.length !== labels.length) {
    throw new Error(`confusionMatrix: ${predictions.length} predictions for ${labels.length} labels`);
  }
  const m = new Int32Array(numClasses * numClasses);
  for (let i = 0; i < labels.length; i++) {
    const t = labels[i];
    const p = predictions[i];
    if (
      !(Number.isInteger(t) && t >= 0 && t < numClasses && Number.isInteger(p) && p >= 0 && p < numClasses)
    ) {
      throw new Error(
        `confusionMatrix: pair ${i} (label ${t}, prediction ${p}) is outside [0, ${numClasses})`,
      );
    }
    m[t * numClasses + p]++;
  }
  return m;
}

/** Per-class accuracy (recall): correct / count for each true class; NaN for classes with no samples. */
export function perClassAccuracy(
  predictions: ArrayLike<number>,
  labels: ArrayLike<number>,
  numClasses: number,
): {
  accuracy: Float64Array;
  counts: Int32Array;
} {
  const cm = confusionMatrix(predictions, labels, numClasses);
  const accuracy = new Float64Array(numClasses);
  const counts = new Int32Array(numClasses);
  for (let c = 0; c < numClasses; c++) {
    let n = 0;
    for (let p = 0; p < numClasses; p++) n += cm[c * numClasses + p];
    counts[c] = n;
    accuracy[c] = n === 0 ? Number.NaN : cm[c * numClasses + c] / n;
  }
  return { accuracy, counts };
}

/** Everything a zero-shot evaluation reports, from scores [N, C] and labels [N]. */
export interface ZeroShotResult {
  top1: number;
  top5: number;
  predictions: Int32Array;
  perClass: { accuracy: Float64Array; counts: Int32Array };
  /** [C, C], row = true class. */
  confusion: Int32Array;
}

export function zeroShotEvaluate(scores: Rows, labels: ArrayLike<number>): ZeroShotResult {
  checkLabels(scores, labels, 'zeroShotEvaluate');
  const predictions = argmaxRows(scores);
  return {
    top1: topKAccuracy(scores, labels, 1),
    top5: topKAccuracy(scores, labels, Math.min(5, scores.cols)),
    predictions,
    perClass: perClassAccuracy(predictions, labels, scores.cols),
    confusion: confusionMatrix(predictions, labels, scores.cols),
  };
}
