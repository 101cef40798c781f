export { QlipCommand } from './lib/base.js';
export type { InfoResult } from './commands/info.js';
