import type { Hook } from '@oclif/core';
import { didYouMean } from '@qlip/core';
import type { JsonError } from '../lib/errors.js';

/**
 * An unknown command: name the closest one ("did you mean tokenize?"), and under `--json` print the one
 * JSON error object on stdout like every other failure. Exit status 2 (usage error) either way.
 */
const hook: Hook.CommandNotFound = async function (opts) {
  const sep = this.config.topicSeparator;
  const shown = (id: string) => id.replaceAll(':', sep);
  // With a space separator oclif's id runs on into the arguments (`tokenise photos/`): try the first
  // word, then the first two (`eval zero-shoot`)...
  const words = shown(opts.id).split(sep);
  const ids = this.config.commandIDs.map(shown);
  let given = words[0] ?? '';
  let hint: string | undefined;
  for (let n = 1; n <= Math.min(words.length, 3) && !hint; n++) {
    hint = didYouMean(words.slice(0, n).join(sep), ids);
    if (hint) given = words.slice(0, n).join(sep);
  }
  const message =
    `"${given}" is not a ${this.config.bin} command` +
    (hint ? `; did you mean "${hint}"?` : '') +
    ` (${this.config.bin} --help lists them)`;
  if (opts.argv?.includes('--json') || process.argv.includes('--json')) {
    const json: JsonError = {
      error: { message, code: 'unknown_command', exit: 2, ...(hint ? { suggestions: [hint] } : {}) },
    };
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    this.exit(2);
  }
  this.error(message, { exit: 2 });
};

export default hook;
