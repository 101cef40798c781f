#!/usr/bin/env node
// Markdown tables for docs/performance.md from ONE `pnpm bench` JSON (default .bench-out/bench-s.json):
// `node scripts/bench-table.mjs [file]`. Every ratio is against the PyTorch peer measured in that same run.
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? '.bench-out/bench-s.json';
const j = JSON.parse(readFileSync(file, 'utf8'));
const p = j.pytorch;
const f = (x, d = 1) => (x == null ? 'n/a' : Number(x).toFixed(d));
const ratio = (a, b) => (a == null || b == null || !p.measured ? 'n/a' : `${(a / b).toFixed(2)}x`);

const lines = [];
lines.push(
  `Run of ${j.date}: ${j.machine.cpu}, ${j.machine.cores} cores, Node ${j.machine.node}, load average at`,
);
lines.push(
  `start ${f(j.machine.loadAverage?.[0], 2)}; PyTorch peer ${p.measured ? `measured in the same run (BLAS: ${p.blas}, ${p.threads} thread)` : `not measured (${p.reason})`}.`,
);
lines.push('');
lines.push(
  '| variant | tokenize img/s | reconstruct img/s | text prompts/s | train step (batch) | 1024^3 matMul GFLOP/s | peak RSS MiB |',
);
lines.push('|---|--:|--:|--:|--:|--:|--:|');
if (p.measured) {
  lines.push(
    `| PyTorch peer, 1 thread | ${f(p.tokenizeImagesPerSec)} | ${f(p.reconstructImagesPerSec)} | ${f(p.textPromptsPerSec)} | ${f(p.trainStepMs / 1000, 2)} s (${p.trainBatch}) | | ${f(p.peakRssMiB, 0)} |`,
  );
}
const p2 = j.pytorchAllCores;
if (p2?.measured) {
  lines.push(
    `| PyTorch peer, ${p2.threads} threads | ${f(p2.tokenizeImagesPerSec)} | ${f(p2.reconstructImagesPerSec)} | ${f(p2.textPromptsPerSec)} | ${f(p2.trainStepMs / 1000, 2)} s (${p2.trainBatch}) | | ${f(p2.peakRssMiB, 0)} |`,
  );
}
for (const v of Object.values(j.backends)) {
  if (!v.available) continue;
  const m = v.measurement;
  lines.push(
    `| ${v.id}: ${v.backend.detail} | ${f(m.tokenize.perSec)} | ${f(m.reconstruct.perSec)} | ${f(m.text.perSec)} | ${f(m.train.stepMs / 1000, 2)} s (${m.train.batch}) | ${f(m.matmulCeiling.gflops)}${m.matmulCeiling.size === 1024 ? '' : ` (${m.matmulCeiling.size}^3)`} | ${v.peakRssMB} |`,
  );
}
const o = j.onnx?.result;
if (o)
  lines.push(
    `| ONNX Runtime tokenize (@qlip/export) | ${f(o.threads_1?.images_per_s)} (1 thread), ${f(o.threads_2?.images_per_s)} (2) | | | | | |`,
  );
if (o?.int8)
  lines.push(
    `| ONNX Runtime tokenize, **int8 (lower precision**; ${o.int8.agreement_with_fp32?.indicesIdentical} % of indices, ${o.int8.agreement_with_fp32?.bitsAgreeing} % of bits as fp32) | ${f(o.int8.threads_1?.images_per_s)} (1 thread), ${f(o.int8.threads_2?.images_per_s)} (2) | | | | | |`,
  );
lines.push('');
const h = Object.values(j.backends).find((v) => v.id === 'wasm-native-1t');
const t = Object.values(j.backends).find((v) => v.id === 'wasm-native');
if (h?.available && p.measured) {
  const m = h.measurement;
  lines.push('| equal threads (1) | ours / PyTorch |');
  lines.push('|---|--:|');
  lines.push(`| tokenize speed (tfjs) | ${ratio(m.tokenize.perSec, p.tokenizeImagesPerSec)} |`);
  lines.push(`| reconstruct speed (tfjs) | ${ratio(m.reconstruct.perSec, p.reconstructImagesPerSec)} |`);
  lines.push(`| text speed (tfjs) | ${ratio(m.text.perSec, p.textPromptsPerSec)} |`);
  if (o)
    lines.push(
      `| tokenize speed (ONNX Runtime) | ${ratio(o.threads_1?.images_per_s, p.tokenizeImagesPerSec)} |`,
    );
  if (o?.int8)
    lines.push(
      `| tokenize speed (ONNX Runtime, int8: lower precision) | ${ratio(o.int8.threads_1?.images_per_s, p.tokenizeImagesPerSec)} |`,
    );
  lines.push(`| **train step time** (batch 32, one tape) | **${ratio(m.train.stepMs, p.trainStepMs)}** |`);
  lines.push(`| peak RSS | ${ratio(h.peakRssMB, p.peakRssMiB)} |`);
}
if (t?.available && p2?.measured) {
  const m = t.measurement;
  const r2 = (a, b) => (a == null || b == null ? 'n/a' : `${(a / b).toFixed(2)}x`);
  const ort2 = o?.[`threads_${p2.threads}`]?.images_per_s;
  lines.push('');
  lines.push(`| equal threads (${p2.threads}) | ours / PyTorch |`);
  lines.push('|---|--:|');
  lines.push(`| tokenize speed (tfjs) | ${r2(m.tokenize.perSec, p2.tokenizeImagesPerSec)} |`);
  lines.push(`| reconstruct speed (tfjs) | ${r2(m.reconstruct.perSec, p2.reconstructImagesPerSec)} |`);
  lines.push(`| text speed (tfjs) | ${r2(m.text.perSec, p2.textPromptsPerSec)} |`);
  if (o) lines.push(`| tokenize speed (ONNX Runtime) | ${r2(ort2, p2.tokenizeImagesPerSec)} |`);
  const int8x2 = o?.int8?.[`threads_${p2.threads}`]?.images_per_s;
  if (int8x2 != null)
    lines.push(
      `| tokenize speed (ONNX Runtime, int8: lower precision) | ${r2(int8x2, p2.tokenizeImagesPerSec)} |`,
    );
  lines.push(`| **train step time** (batch 32, one tape) | **${r2(m.train.stepMs, p2.trainStepMs)}** |`);
  lines.push(`| peak RSS | ${r2(t.peakRssMB, p2.peakRssMiB)} |`);
}
console.log(lines.join('\n'));
