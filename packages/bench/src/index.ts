// bench-s model and inputs

export { syntheticImages, syntheticPrompts } from './data.js';
// FLOPs
export {
  type BottleneckKind,
  blockFlops,
  type FlopParts,
  gflops,
  type WorkloadFlops,
  workloadFlops,
} from './flops.js';
export {
  ceiling,
  type Measurement,
  type MeasureOptions,
  measureWorkloads,
  median,
  type Throughput,
  type Timing,
  type TrainMeasurement,
  timeIt,
} from './measure.js';
export { type OnnxEntry, onnxTokenize } from './onnx.js';
// Kernel profile of the train step
// The PyTorch peer, run in the same run
export { type PeerEntry, type PeerFigures, parsePeerOutput, runTorchPeer } from './peer.js';
export {
  BENCH_S,
  BENCH_S_EXPECTED_PARAMS,
  BENCH_S_LOSS_WEIGHTS,
  BENCH_S_OPTIMIZER,
  BENCH_TINY,
  type BenchShape,
  benchConfig,
  paramGroup,
} from './preset.js';
export { type KernelProfile, profileTrainStep } from './profile.js';
export {
  type BenchOptions,
  type BenchResult,
  type BenchSummary,
  countParams,
  type PyTorchRatios,
  pytorchRatios,
  runBench,
} from './run.js';
export { measureVariant, type VariantResult } from './variant-run.js';
// Backends and the whole benchmark
export {
  type Settings,
  settingsFor,
  VARIANT_IDS,
  VARIANTS,
  type Variant,
  type VariantId,
  variantsFor,
} from './variants.js';
// Workloads and timing
export { BenchWorkloads } from './workloads.js';
