// Loading

export { FeatureNet, type FeatureNetOptions, loadFeatureNet } from './feature-net.js';
export { type FeatureNetName, nsfwjsModelDir, readNsfwjsArtifacts, readNsfwjsModel } from './nsfwjs-files.js';

// Building blocks

export { depthwiseConv2dBackpropInput, depthwiseConv2dFrozen } from './depthwise-grad.js';
export { KerasGraph } from './keras-graph.js';
