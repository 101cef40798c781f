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
export {
  BENCH_S,
  BENCH_S_EXPECTED_PARAMS,
  BENCH_S_LOSS_WEIGHTS,
  BENCH_S_OPTIMIZER,
  BENCH_TINY,
  type BenchShape,
  benchConfig,
  PYTORCH_PEER,
  paramGroup,
} from './preset.js';
// Kernel profile of the train step
export { type KernelProfile, profileTrainStep } from './profile.js';
export {
  type BenchOptions,
  type BenchResult,
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
