import { Args, Flags } from '@oclif/core';
import { type DownloadResult, downloadModel, hubSettings, parseHubId } from '@qlip/hub';
import { QlipCommand } from '../lib/base.js';
import { noteLicence } from '../lib/model.js';
import { createProgressRenderer } from '../lib/progress.js';

export default class Download extends QlipCommand {
  static override summary =
    'Download a model from the Hugging Face hub into the Hugging Face cache, ahead of time';
  static override description =
    `ID is org/name or org/name@revision (branch, tag or commit). Files go to the standard Hugging Face cache
(HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub; the layout Python's huggingface_hub uses, so
either reuses the other's downloads). Then --model ID works offline too (HF_HUB_OFFLINE=1).
HF_TOKEN authenticates (private or gated models), HF_ENDPOINT points at a mirror. An interrupted download
resumes where it stopped when run again. The model card's licence is printed on first download.`;
  static override examples = [
    '<%= config.bin %> download nvidia/QLIP-B-16-256',
    '<%= config.bin %> download nvidia/QLIP-L-14-392 --revision main --json',
    'HF_HUB_OFFLINE=1 <%= config.bin %> tokenize photos/ --model nvidia/QLIP-B-16-256 --out tokens/',
  ];
  static override args = {
    id: Args.string({ description: 'hub model id: org/name[@revision]', required: true }),
  };
  static override flags = {
    revision: Flags.string({
      description: 'branch, tag or commit (overrides @revision in ID; default main)',
    }),
  };

  async run(): Promise<DownloadResult> {
    const { args, flags } = await this.parse(Download);
    const id = parseHubId(args.id);
    if (!id)
      this.error(`${args.id}: not a hub model id (expected org/name or org/name@revision)`, { exit: 2 });
    const progress = createProgressRenderer();
    let r: DownloadResult;
    try {
      r = await downloadModel(id.repo, {
        revision: flags.revision ?? id.revision ?? 'main',
        onProgress: progress.listener,
      });
    } finally {
      progress.stop();
    }
    noteLicence(r);
    const got = r.downloadedBytes
      ? `${(r.downloadedBytes / 2 ** 20).toFixed(1)} MiB downloaded`
      : 'all cached';
    this.log(
      `${r.repo}@${r.revision} (${r.commit}): ${r.files.length} files, ${(r.bytes / 2 ** 20).toFixed(1)} MiB (${got}) -> ${r.path}`,
    );
    if (r.offline) this.note(`from the cache (${hubSettings().cacheDir}); the hub was not asked`);
    return r;
  }
}
