export { DEMO_TEMPLATES, type DemoOptions, type DemoResult, runDemo } from './demo.js';
export { writeMnistFolder } from './images.js';
