// The qlip web page's server side: ONNX exports prepared for the page (cached, never written into a model
// folder), the static site with its shipped models, and `qlip serve`'s HTTP server.
export { startServer } from './server.js';
export { addSiteModels, type ServeOptions, type ServeResult, serveWeb, writeClipMerges } from './site.js';
