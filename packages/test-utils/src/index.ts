/**
 * Helpers shared by the workspace's tests (a devDependency only: library code never imports it).
 * @packageDocumentation
 */
export { ATOL, maxAbsDiff, REFERENCE_FIXTURE, type Ref, readReference } from './reference.js';
export { promptIds, randomImages, type TinyOptions, tinyConfig } from './tiny-config.js';
