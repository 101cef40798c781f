export type { InfoResult } from './commands/info.js';
export { QlipCommand } from './lib/base.js';
