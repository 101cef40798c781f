// Reconstruction

// Quantisation (the BSQ loss lives in @qlip/bsq; re-exported so a trainer needs one import)
export { type BsqLossOptions, type BsqLossTerms, bsqLoss } from '@qlip/bsq';
// Adversarial
export {
  type AdaptiveWeightOptions,
  adaptiveGanWeight,
  discriminatorLoss,
  type GanLossKind,
  ganActive,
  generatorLoss,
} from './adversarial.js';
// Loss balancing
export {
  type BalancerConfig,
  type BalancerState,
  balancerUpdate,
  balancerWeights,
  initialBalancerState,
  LossBalancer,
  STAGE1_BALANCER,
  validateBalancerConfig,
  validateBalancerState,
} from './balancer.js';
// Contrastive
export {
  captionGroups,
  clampedLogitScale,
  type InfoNceOptions,
  type InfoNceTerms,
  infoNce,
  LOGIT_SCALE_INIT,
  LOGIT_SCALE_MAX,
  positiveTargets,
} from './contrastive.js';
export {
  type ConvSpec,
  initPatchGan,
  loadPatchGan,
  PATCHGAN_DEFAULT,
  type PatchGanConfig,
  PatchGanDiscriminator,
  patchGanForward,
  patchGanFromHost,
  patchGanLayers,
  patchGanToHost,
  savePatchGan,
} from './discriminator.js';
// Perceptual
export {
  defaultFeatureNetwork,
  type FeatureNetwork,
  featureChannels,
  loadLpipsWeights,
  lpipsLinName,
  PerceptualLoss,
  type PerceptualWeights,
  perceptualDistance,
  perceptualLoss,
  unitNormalizeChannels,
} from './perceptual.js';
export { l1Loss, l2Loss, type ReconstructionKind, reconstructionLoss } from './reconstruction.js';

// Stage composition
export {
  type DiscriminatorTerm,
  type LossResult,
  type Stage1Inputs,
  type Stage1Term,
  type Stage2Inputs,
  type Stage2Term,
  stage1Loss,
  stage2DiscriminatorLoss,
  stage2GeneratorLoss,
} from './stages.js';
