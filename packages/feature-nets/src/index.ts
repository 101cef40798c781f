// Loading

export { depthwiseConv2dBackpropInput, depthwiseConv2dFrozen } from './depthwise-grad.js';
export { FeatureNet, type FeatureNetOptions, type ImageLayout, loadFeatureNet } from './feature-net.js';

// Building blocks
export { KerasGraph } from './keras-graph.js';
export {
  FEATURE_NETS,
  type FeatureNetName,
  nsfwjsModelDir,
  readNsfwjsArtifacts,
  readNsfwjsModel,
} from './nsfwjs-files.js';
