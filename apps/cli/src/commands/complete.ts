import { Args, Flags } from '@oclif/core';
import { complete } from '@qlip/unified';
import { UnifiedCommand, unifiedModelFlag } from '../lib/unified.js';

export default class Complete extends UnifiedCommand {
  static override summary = 'Continue a text prompt with the unified model (greedy, text only)';
  static override examples = ['<%= config.bin %> complete "a photo of" --json'];
  static override args = { prompt: Args.string({ description: 'text to continue', required: true }) };
  static override flags = {
    ...unifiedModelFlag,
    'max-tokens': Flags.integer({
      description: 'stop after this many tokens (or at <eos>)',
      default: 24,
      min: 1,
    }),
  };

  async run(): Promise<{ prompt: string; completion: string; text: string }> {
    const { args, flags } = await this.parse(Complete);
    return this.withUnified(flags, async (p) => {
      const r = await complete(p, args.prompt, flags['max-tokens']);
      this.log(r.text);
      return r;
    });
  }
}
