import { Flags } from '@oclif/core';
import { type BenchResult, runBench } from '@qlip/bench';
import { QlipCommand } from '../lib/base.js';

export default class Bench extends QlipCommand {
  static override summary = 'Measure the bench-s model on every backend and compare with the PyTorch peer';
  static override description =
    'Tokenize images/s, reconstruct images/s, text prompts/s, train step ms (forward + backward + AdamW), ' +
    'peak RSS, achieved GFLOP/s and a matMul ceiling for each backend variant present (wasm + native ' +
    'kernels on 1 thread and on all cores, stock wasm, cpu, native TensorFlow), each in its own process, ' +
    'with the ratios to the PyTorch peer. --backend auto measures every variant; wasm, cpu or tensorflow ' +
    'only those. Use --json for the full result; see docs/performance.md.';
  static override examples = [
    '<%= config.bin %> bench --json > bench.json',
    '<%= config.bin %> bench --backend wasm --reps 3',
    '<%= config.bin %> bench --quick --json',
  ];

  static override flags = {
    reps: Flags.integer({
      description: 'timed repetitions of every workload (default: 5, fewer on slow backends)',
      min: 1,
    }),
    quick: Flags.boolean({
      description: 'tiny model and 2 repetitions: checks the pipeline in seconds, not a measurement',
    }),
  };

  async run(): Promise<BenchResult> {
    const { flags } = await this.parse(Bench);
    const result = await runBench({
      backend: flags.backend,
      reps: flags.reps,
      quick: flags.quick,
      onProgress: (m) => this.note(m),
    });
    for (const b of result.backends) {
      if (!b.available) {
        this.log(`${b.id}: not available (${b.reason})`);
        continue;
      }
      const m = b.measurement;
      this.log(
        `${b.id}: tokenize ${m.tokenize.perSec} img/s, reconstruct ${m.reconstruct.perSec} img/s, ` +
          `text ${m.text.perSec} prompts/s, train step ${m.train.stepMs} ms (batch ${m.batch}), ` +
          `matMul ${m.matmulCeiling.gflops} GFLOP/s, peak RSS ${b.peakRssMB} MB`,
      );
    }
    const p = result.pytorch;
    const s = result.summary.vsPyTorch;
    if (!p.measured) this.log(`vs PyTorch: not measured (${p.reason})`);
    else {
      this.log(
        `pytorch peer (${p.threads} thread, this run): tokenize ${p.tokenizeImagesPerSec} img/s, reconstruct ` +
          `${p.reconstructImagesPerSec} img/s, text ${p.textPromptsPerSec} prompts/s, train step ${p.trainStepMs} ms ` +
          `(batch ${p.trainBatch}), BLAS ${p.blas}`,
      );
      if (s) {
        const train =
          s.trainStepTimeRatio == null ? s.note : `train step takes ${s.trainStepTimeRatio}x PyTorch's time`;
        const { onnxTokenizeSpeed: ort, onnxInt8TokenizeSpeed: int8, peakRssMiB: rss } = result.summary;
        this.log(
          `vs PyTorch (${result.summary.variant}): tokenize x${s.tokenizeSpeed}, reconstruct x${s.reconstructSpeed}, ` +
            `text x${s.textSpeed}; ${train}; ONNX Runtime tokenize ${ort == null ? 'not measured' : `x${ort}`}` +
            `${int8 == null ? '' : ` (int8, lower precision: x${int8})`}; ` +
            `peak RSS ${rss.ours} MiB vs ${rss.pytorch ?? '?'} MiB (x${s.peakRssRatio ?? '?'})`,
        );
      } else this.log('vs PyTorch: no variant of ours ran bench-s');
    }
    const all = result.summary.allCores;
    if (all?.vsPyTorch) {
      const a = all.vsPyTorch;
      this.log(
        `vs PyTorch on ${all.threads} threads (${all.variant}): tokenize x${a.tokenizeSpeed}, reconstruct ` +
          `x${a.reconstructSpeed}, text x${a.textSpeed}; train step takes ${a.trainStepTimeRatio ?? '?'}x ` +
          `PyTorch's time; ONNX Runtime tokenize ${all.onnxTokenizeSpeed == null ? 'not measured' : `x${all.onnxTokenizeSpeed}`}`,
      );
    }
    return result;
  }
}
