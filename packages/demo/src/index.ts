export { type DemoOptions, type DemoResult, runDemo } from './demo.js';
export { writeMnistFolder } from './images.js';
