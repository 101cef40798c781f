import path from 'node:path';
import { z } from 'zod';
import { DEFAULT_PIPELINE, ImageTextDataset } from './dataset.js';
import { DEFAULT_AUGMENT } from './image/transform.js';
import { classFolderSource } from './sources/class-folder.js';
import { type DetectedSource, type DetectSourceOptions, detectSource } from './sources/detect.js';
import { emojiSource } from './sources/emoji.js';
import { folderSource } from './sources/folder.js';
import { manifestSource } from './sources/manifest.js';
import { mnistSource } from './sources/mnist.js';
import { readTemplateFile } from './sources/templates.js';
import { webDatasetSource } from './sources/webdataset.js';
import type { SampleSource, SkipListener } from './types.js';

/** Names accepted by `{kind: 'builtin', name}`. */
export const BUILTIN_DATASETS = ['mnist', 'emoji'] as const;

const range = (what: string) =>
  z
    .tuple([z.number().positive(), z.number().positive()])
    .refine(([a, b]) => a <= b, { message: `${what}: expected [min, max] with min <= max` });

export const AugmentSchema = z
  .object({
    scale: range('scale')
      .refine(([, b]) => b <= 1, { message: 'scale: the area fraction cannot exceed 1' })
      .default(DEFAULT_AUGMENT.scale),
    ratio: range('ratio').default(DEFAULT_AUGMENT.ratio),
    flip: z.boolean().default(DEFAULT_AUGMENT.flip),
  })
  .strict();

const templateFields = {
  /** Prompt templates with `{c}` for the class name. */
  templates: z.array(z.string().min(1)).min(1).optional(),
  /** A file with one template per line (instead of `templates`). */
  templateFile: z.string().optional(),
};

export const SourceSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('folder'),
      path: z.string().min(1),
      missingCaption: z.enum(['skip', 'filename']).default('skip'),
    })
    .strict(),
  z
    .object({
      kind: z.literal('manifest'),
      path: z.string().min(1),
      format: z.enum(['jsonl', 'csv', 'tsv']).optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal('webdataset'),
      shards: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    })
    .strict(),
  z
    .object({
      kind: z.literal('classFolder'),
      path: z.string().min(1),
      classNames: z.record(z.string(), z.string()).optional(),
      ...templateFields,
    })
    .strict(),
  z
    .object({
      kind: z.literal('builtin'),
      name: z.string().min(1),
      split: z.enum(['train', 'test']).default('train'),
      limit: z.number().int().positive().optional(),
      ...templateFields,
    })
    .strict(),
]);

export const DataConfigSchema = z
  .object({
    source: SourceSchema,
    imageSize: z.number().int().positive().default(256),
    batchSize: z.number().int().positive().default(DEFAULT_PIPELINE.batchSize),
    seed: z.number().int().nonnegative().default(DEFAULT_PIPELINE.seed),
    shuffle: z.boolean().default(DEFAULT_PIPELINE.shuffle),
    shuffleBuffer: z.number().int().nonnegative().default(DEFAULT_PIPELINE.shuffleBuffer),
    augment: z.union([z.literal(false), AugmentSchema]).default({ ...DEFAULT_AUGMENT }),
    epochs: z.number().int().positive().optional(),
    dropLast: z.boolean().default(DEFAULT_PIPELINE.dropLast),
    workers: z.number().int().positive().default(DEFAULT_PIPELINE.workers),
    threads: z.number().int().nonnegative().default(DEFAULT_PIPELINE.threads),
    prefetch: z.number().int().nonnegative().default(DEFAULT_PIPELINE.prefetch),
  })
  .strict();

export type SourceConfig = z.output<typeof SourceSchema>;
export type DataConfig = z.output<typeof DataConfigSchema>;
export type DataConfigInput = z.input<typeof DataConfigSchema>;

/** Validate a data config; the error lists every bad key and what was expected. */
export function parseDataConfig(input: unknown, where = 'data config'): DataConfig {
  const r = DataConfigSchema.safeParse(input);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => `  ${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
  throw new Error(`${where} is invalid:\n${lines.join('\n')}`);
}

async function resolveTemplates(
  cfg: { templates?: string[]; templateFile?: string },
  baseDir: string,
  where: string,
): Promise<string[] | undefined> {
  if (cfg.templates && cfg.templateFile)
    throw new Error(`${where}: give either templates or templateFile, not both`);
  return cfg.templateFile ? readTemplateFile(path.resolve(baseDir, cfg.templateFile)) : cfg.templates;
}

/** Open the source a config describes; relative paths are resolved against `baseDir`. */
export async function createSource(cfg: SourceConfig, baseDir = process.cwd()): Promise<SampleSource> {
  switch (cfg.kind) {
    case 'folder':
      return folderSource(path.resolve(baseDir, cfg.path), { missingCaption: cfg.missingCaption });
    case 'manifest':
      return manifestSource(path.resolve(baseDir, cfg.path), cfg.format);
    case 'webdataset':
      return webDatasetSource(cfg.shards, baseDir);
    case 'classFolder': {
      const templates = await resolveTemplates(cfg, baseDir, `class-folder source '${cfg.path}'`);
      return classFolderSource(path.resolve(baseDir, cfg.path), {
        ...(templates ? { templates } : {}),
        ...(cfg.classNames ? { classNames: cfg.classNames } : {}),
      });
    }
    case 'builtin': {
      const templates = await resolveTemplates(cfg, baseDir, `built-in dataset '${cfg.name}'`);
      const common = {
        ...(templates ? { templates } : {}),
        ...(cfg.limit !== undefined ? { limit: cfg.limit } : {}),
      };
      if (cfg.name === 'mnist') return mnistSource({ split: cfg.split, ...common });
      if (cfg.name === 'emoji') {
        if (cfg.split !== 'train')
          throw new Error(`built-in dataset 'emoji' has no '${cfg.split}' split (expected 'train')`);
        return emojiSource(common);
      }
      throw new Error(
        `unknown built-in dataset '${cfg.name}' (expected one of ${BUILTIN_DATASETS.join(', ')})`,
      );
    }
  }
}

/**
 * The `data.source` a command-line value names (`--data`): a folder with .txt captions, a class-folder
 * tree, a .jsonl/.csv/.tsv manifest, WebDataset .tar shards (path, brace pattern or http(s) URL) or a
 * built-in dataset name; see `detectSource`.
 */
export function sourceFromSpec(spec: string, options: DetectSourceOptions = {}): Promise<DetectedSource> {
  return detectSource(spec, { ...options, builtins: BUILTIN_DATASETS });
}

export interface CreateDatasetOptions {
  /** Directory that relative paths in the config are resolved against (e.g. the config file's). */
  baseDir?: string;
  onSkip?: SkipListener;
}

/** Validate `config`, open its source and return the streaming pipeline. */
export async function createDataset(
  config: DataConfigInput | unknown,
  options: CreateDatasetOptions = {},
): Promise<ImageTextDataset> {
  const cfg = parseDataConfig(config);
  const source = await createSource(cfg.source, options.baseDir);
  const ds = new ImageTextDataset(source, {
    imageSize: cfg.imageSize,
    batchSize: cfg.batchSize,
    seed: cfg.seed,
    shuffle: cfg.shuffle,
    shuffleBuffer: cfg.shuffleBuffer,
    augment: cfg.augment,
    ...(cfg.epochs !== undefined ? { epochs: cfg.epochs } : {}),
    dropLast: cfg.dropLast,
    workers: cfg.workers,
    threads: cfg.threads,
    prefetch: cfg.prefetch,
  });
  if (options.onSkip) ds.onSkip(options.onSkip);
  return ds;
}
