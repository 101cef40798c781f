import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CONFIG_NAME, parseQLIPConfig, type QLIPConfigInput, QLIPModel, qlipSpecs } from '@qlip/model';

/** What `--init` did, tensor by tensor. */
export interface InitReport {
  /** `qlip` (official QLIP or one of our checkpoints: the whole model, its config replaces `model`) or `clip`. */
  kind: 'qlip' | 'clip';
  dir: string;
  /** Parameters read from the checkpoint. */
  loaded: string[];
  /** Parameters left at their fresh init (absent from the checkpoint or a different shape). */
  initialised: string[];
  /** Checkpoint tensors not used (no parameter of that name and shape). */
  ignored: string[];
}

/** A QLIP config.json has a decoder; a HF `CLIPModel` config does not. */
function isQlipConfig(json: unknown): boolean {
  return typeof json === 'object' && json !== null && 'decoder_config' in json;
}

/**
 * The model a run starts from: fresh from `config` (seeded), or `--init DIR`:
 * - an official QLIP checkpoint or one of ours (config.json has `decoder_config`): loaded whole, with
 *   its own config (the run's `model` section is ignored, see the returned `config`);
 * - a CLIP-style Hugging Face checkpoint (`CLIPModel` layout): every parameter whose name and official
 *   shape match is loaded (vision and text towers, projections, logit_scale), everything else --
 *   bottleneck, decoder, mismatched position tables -- keeps its fresh init (the paper's fast start).
 */
export async function initModel(
  config: QLIPConfigInput,
  seed: number,
  initDir?: string,
): Promise<{ model: QLIPModel; report?: InitReport }> {
  if (!initDir) return { model: QLIPModel.create(config, seed) };
  const cfgPath = join(initDir, CONFIG_NAME);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(cfgPath, 'utf8'));
  } catch (err) {
    throw new Error(`--init ${initDir}: cannot read ${cfgPath} (${(err as Error).message})`);
  }
  if (isQlipConfig(json)) {
    const model = await QLIPModel.load(initDir);
    const names = qlipSpecs(model.config).map((s) => s.name);
    return { model, report: { kind: 'qlip', dir: initDir, loaded: names, initialised: [], ignored: [] } };
  }
  const model = QLIPModel.create(parseQLIPConfig(config, 'model'), seed);
  let report: InitReport;
  try {
    const matched = await model.loadMatching(initDir);
    report = {
      kind: 'clip',
      dir: initDir,
      loaded: matched.loaded,
      initialised: matched.missing,
      ignored: matched.unused,
    };
  } catch (err) {
    model.dispose();
    throw err;
  }
  if (report.loaded.length === 0) {
    model.dispose();
    throw new Error(
      `--init ${initDir}: no tensor matches the model by name and shape (is it a CLIPModel checkpoint of the same widths?)`,
    );
  }
  return { model, report };
}
