import { createRequire } from 'node:module';
import os from 'node:os';
import { selectCliBackend } from '../lib/backend.js';
import { QlipCommand } from '../lib/base.js';

const require = createRequire(import.meta.url);

export interface InfoResult {
  version: string;
  node: string;
  platform: string;
  cpus: number;
  backend: { name: string; detail: string; skipped: { name: string; reason: string }[] };
}

export default class Info extends QlipCommand {
  static override summary = 'Show the qlip version and the compute backend this machine will use';
  static override description =
    'Selects the backend the same way every command does (--backend / QLIP_BACKEND, default auto) and reports ' +
    'which one loaded and why the faster ones did not.';
  static override examples = ['<%= config.bin %> info', '<%= config.bin %> info --backend cpu --json'];

  async run(): Promise<InfoResult> {
    const { flags } = await this.parse(Info);
    const b = await selectCliBackend(flags.backend); // reported below on stdout, not as a stderr note
    const pkg = require('../../package.json') as { version: string };
    const result: InfoResult = {
      version: pkg.version,
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      cpus: os.cpus().length,
      backend: { name: b.name, detail: b.detail, skipped: b.skipped },
    };
    this.log(`qlip ${result.version} on node ${result.node} (${result.platform}, ${result.cpus} cpus)`);
    this.log(`backend: ${b.name} (${b.detail})`);
    for (const s of b.skipped) this.log(`  skipped ${s.name}: ${s.reason}`);
    return result;
  }
}
