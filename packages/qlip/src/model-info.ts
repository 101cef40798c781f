import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type DownloadOptions, licenseNotice, type ModelCard, readModelCard, resolveModel } from '@qlip/hub';
import { DEFAULT_MODEL_NAME, defaultModelDir } from '@qlip/pretrained';

/** Which model is loaded, and what it can see: printed by every qlip command, `QLIP#describe()`. */
export interface ModelDescription {
  /** A hub id with its commit (`org/name@1a2b3c4d5e6f`), the path as given, or the shipped model's name. */
  name: string;
  /** The model directory on disk. */
  dir: string;
  source: 'hub' | 'local' | 'shipped';
  runtime: 'tfjs' | 'onnx';
  /** Set when below fp32 (`int8`): indices may differ from fp32's. */
  precision?: string;
  imageSize: number;
  patchSize: number;
  /** Tokens per image: `[rows, cols]`. */
  grid: [number, number];
  /** Bits per token (the codebook has 2^bits entries). */
  bits: number;
  /** From the model card's front matter, when it says. */
  license?: string;
  trainingData?: string[];
}

/** `name (dir): 256 px images -> 16x16 tokens of 28 bits [tfjs]; training data: ...; licence ...` */
export function describeModel(d: ModelDescription): string {
  const where = d.dir === d.name ? '' : ` (${d.dir})`;
  const data = d.trainingData?.length ? `; trained on ${d.trainingData.join(', ')} (model card)` : '';
  const licence = d.license ? `; licence ${d.license}` : '';
  return (
    `model: ${d.name}${where}: ${d.imageSize}x${d.imageSize} px input, ${d.grid[0]}x${d.grid[1]} tokens of ` +
    `${d.bits} bits (patch ${d.patchSize}), runtime ${d.runtime}${d.precision ? ` ${d.precision} (lower precision)` : ''}${data}${licence}`
  );
}

export interface LocatedModel {
  name: string;
  dir: string;
  source: ModelDescription['source'];
  card: ModelCard | null;
}

/**
 * A model spec -> a directory: none = the checkpoint shipped with qlip; an existing directory; or a hub id
 * `org/name[@revision]` (downloaded into the Hugging Face cache). Prints the licence on first download.
 */
export async function locateModel(
  spec: string | undefined,
  opts: DownloadOptions,
  log: (message: string) => void,
): Promise<LocatedModel> {
  if (spec === undefined) {
    const dir = defaultModelDir();
    return { name: DEFAULT_MODEL_NAME, dir, source: 'shipped', card: await readModelCard(dir) };
  }
  const r = await resolveModel(spec, opts);
  if (r.download?.firstDownload) {
    log(
      licenseNotice(r.download.repo, r.download.card) ??
        `${r.download.repo}: its model card states no licence`,
    );
  }
  if (!existsSync(join(r.dir, 'config.json'))) {
    throw new Error(`${r.dir}: not a QLIP model directory (expected config.json and model.safetensors)`);
  }
  return {
    name: r.name,
    dir: r.dir,
    source: r.source,
    card: r.download?.card ?? (await readModelCard(r.dir)),
  };
}
