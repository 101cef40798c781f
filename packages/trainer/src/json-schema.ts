import { join } from 'node:path';
import { qlipConfigSchema } from '@qlip/model';
import { z } from 'zod';
import { ModelSectionSchema, PRESET_DIR, TrainConfigSchema } from './config.js';

/** The JSON Schema shipped beside the presets (written at build by `scripts/write-json-schema.mjs`). */
export const TRAIN_CONFIG_SCHEMA_FILE = join(PRESET_DIR, '..', 'train-config.schema.json');

/**
 * A file is a layer merged over a preset, so no key of a merged object is required in it. A union
 * branch (`data.source` of one `kind`) replaces the whole value, so its own required keys stay.
 */
function layerOptional(node: unknown): void {
  if (typeof node !== 'object' || node === null) return;
  const n = node as Record<string, unknown>;
  delete n.required;
  for (const [k, v] of Object.entries(n)) {
    if (k === 'oneOf' || k === 'anyOf') continue;
    if (k === 'properties' && typeof v === 'object' && v !== null)
      for (const p of Object.values(v)) layerOptional(p);
    else if (k === 'additionalProperties' || k === 'items') layerOptional(v);
  }
}

/**
 * JSON Schema (draft 2020-12) of a `qlip train --config` file, generated from the zod schemas: what a
 * config file may contain (`input` side: every key optional where the schema has a default), so editors
 * complete and check it through `"$schema"`. The `model` section is the official QLIP config.json schema.
 */
export function trainConfigJsonSchema(): Record<string, unknown> {
  const model = z.toJSONSchema(qlipConfigSchema, { io: 'input', unrepresentable: 'any' });
  delete model.$schema;
  const schema = z.toJSONSchema(TrainConfigSchema, {
    io: 'input',
    unrepresentable: 'any',
    override: (ctx) => {
      if (ctx.zodSchema === ModelSectionSchema) {
        for (const k of Object.keys(ctx.jsonSchema)) delete ctx.jsonSchema[k];
        Object.assign(ctx.jsonSchema, model);
      }
    },
  }) as Record<string, unknown> & { properties: Record<string, unknown>; required?: string[] };
  // A config file may name its schema; `readJsonConfig` drops the key before validation.
  schema.properties = { $schema: { type: 'string' }, ...schema.properties };
  layerOptional(schema);
  return {
    $schema: schema.$schema,
    title: 'qlip train configuration',
    description:
      'A `qlip train --config` file, layered over a preset (--preset < --config < flags). Setting data.source.kind replaces the whole source.',
    ...schema,
  };
}
