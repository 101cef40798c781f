/**
 * Captioning metrics as the COCO caption evaluation (pycocoevalcap) defines them, over lower-cased words
 * with punctuation removed (a simplification of its PTB tokenizer):
 * - BLEU-4: corpus-level, clipped 1..4-gram precisions, geometric mean, brevity penalty against the
 *   closest reference length (ties -> the shorter), no smoothing.
 * - CIDEr-D: per image, TF-IDF vectors of 1..4-grams (tf = count, idf = log(#images) - log(df), df = images
 *   whose references contain the n-gram), similarity `sum min(h, r) * r / (|h| |r|)` per n (clipped),
 *   times a Gaussian length penalty exp(-delta^2 / (2 * 6^2)) where the length is the n=2 term count
 *   (pycocoevalcap's convention), averaged over n and references, times 10; the corpus score is the mean.
 */

/** Lower-case words without punctuation. */
export function captionWords(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s']/gu, ' ')
    .split(/\s+/)
    .filter(Boolean);
}

function ngrams(words: readonly string[], n: number): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i + n <= words.length; i++) {
    const g = words.slice(i, i + n).join(' ');
    m.set(g, (m.get(g) ?? 0) + 1);
  }
  return m;
}

/** Corpus BLEU-1..4 (index 3 is BLEU-4) of candidates against their references. */
export function bleu(candidates: readonly string[], references: readonly (readonly string[])[]): number[] {
  if (candidates.length !== references.length)
    throw new Error(`bleu: ${candidates.length} candidates but ${references.length} reference sets`);
  const match = [0, 0, 0, 0];
  const total = [0, 0, 0, 0];
  let c = 0;
  let r = 0;
  candidates.forEach((cand, i) => {
    const hyp = captionWords(cand);
    const refs = references[i]!.map(captionWords);
    c += hyp.length;
    let best = Number.POSITIVE_INFINITY;
    let bestLen = 0;
    for (const ref of refs) {
      const d = Math.abs(ref.length - hyp.length);
      if (d < best || (d === best && ref.length < bestLen)) {
        best = d;
        bestLen = ref.length;
      }
    }
    r += bestLen;
    for (let n = 1; n <= 4; n++) {
      const h = ngrams(hyp, n);
      const maxRef = new Map<string, number>();
      for (const ref of refs)
        for (const [g, k] of ngrams(ref, n)) maxRef.set(g, Math.max(maxRef.get(g) ?? 0, k));
      for (const [g, k] of h) match[n - 1]! += Math.min(k, maxRef.get(g) ?? 0);
      total[n - 1]! += Math.max(0, hyp.length - n + 1);
    }
  });
  const bp = c === 0 ? 0 : c < r ? Math.exp(1 - r / c) : 1;
  const out: number[] = [];
  let logSum = 0;
  for (let n = 0; n < 4; n++) {
    const p = total[n]! ? match[n]! / total[n]! : 0;
    logSum += p > 0 ? Math.log(p) : Number.NEGATIVE_INFINITY;
    out.push(bp * Math.exp(logSum / (n + 1)));
  }
  return out;
}

interface TfIdf {
  vec: Map<string, number>[];
  norm: number[];
  length: number;
}

function tfidf(words: readonly string[], df: Map<string, number>, logImages: number): TfIdf {
  const vec: Map<string, number>[] = [];
  const norm: number[] = [];
  let length = 0;
  for (let n = 1; n <= 4; n++) {
    const v = new Map<string, number>();
    let sq = 0;
    for (const [g, k] of ngrams(words, n)) {
      const w = k * (logImages - Math.log(Math.max(1, df.get(g) ?? 0)));
      v.set(g, w);
      sq += w * w;
      if (n === 2) length += k;
    }
    vec.push(v);
    norm.push(Math.sqrt(sq));
  }
  return { vec, norm, length };
}

/** CIDEr-D: the corpus score and one score per image. */
export function ciderD(
  candidates: readonly string[],
  references: readonly (readonly string[])[],
  sigma = 6,
): { score: number; perImage: number[] } {
  if (candidates.length !== references.length)
    throw new Error(`ciderD: ${candidates.length} candidates but ${references.length} reference sets`);
  const refWords = references.map((refs) => refs.map(captionWords));
  const df = new Map<string, number>();
  for (const refs of refWords) {
    const seen = new Set<string>();
    for (const ref of refs) for (let n = 1; n <= 4; n++) for (const g of ngrams(ref, n).keys()) seen.add(g);
    for (const g of seen) df.set(g, (df.get(g) ?? 0) + 1);
  }
  const logImages = Math.log(candidates.length);
  const perImage = candidates.map((cand, i) => {
    const h = tfidf(captionWords(cand), df, logImages);
    let sum = 0;
    for (const ref of refWords[i]!) {
      const r = tfidf(ref, df, logImages);
      const penalty = Math.exp(-((h.length - r.length) ** 2) / (2 * sigma * sigma));
      for (let n = 0; n < 4; n++) {
        let val = 0;
        for (const [g, w] of h.vec[n]!) {
          const rw = r.vec[n]!.get(g) ?? 0;
          val += Math.min(w, rw) * rw;
        }
        if (h.norm[n] !== 0 && r.norm[n] !== 0) val /= h.norm[n]! * r.norm[n]!;
        sum += (val * penalty) / 4;
      }
    }
    return (sum / refWords[i]!.length) * 10;
  });
  const score = perImage.length ? perImage.reduce((a, b) => a + b, 0) / perImage.length : 0;
  return { score, perImage };
}
