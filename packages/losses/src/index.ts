// Reconstruction

export { l1Loss, l2Loss, reconstructionLoss } from './reconstruction.js';

// Quantisation (the BSQ loss lives in @qlip/bsq; re-exported so a trainer needs one import)

export { type BsqLossOptions, bsqLoss } from '@qlip/bsq';

// Contrastive

export { captionGroups, infoNce, LOGIT_SCALE_MAX, positiveTargets } from './contrastive.js';

// Perceptual

export {
  defaultFeatureNetwork,
  type FeatureNetwork,
  featureChannels,
  loadLpipsWeights,
  PerceptualLoss,
  perceptualDistance,
  perceptualLoss,
  unitNormalizeChannels,
} from './perceptual.js';

// Adversarial: the loss terms and the PatchGAN discriminator

export { adaptiveGanWeight, discriminatorLoss, ganActive, generatorLoss } from './adversarial.js';
export {
  initPatchGan,
  loadPatchGan,
  type PatchGanConfig,
  PatchGanDiscriminator,
  patchGanForward,
  patchGanFromHost,
  patchGanLayers,
} from './discriminator.js';

// Loss balancing

export {
  type BalancerConfig,
  type BalancerState,
  balancerUpdate,
  initialBalancerState,
  LossBalancer,
  STAGE1_BALANCER,
  validateBalancerConfig,
  validateBalancerState,
} from './balancer.js';

// Stage composition

export { stage1Loss, stage2DiscriminatorLoss, stage2GeneratorLoss } from './stages.js';
