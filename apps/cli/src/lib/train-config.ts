import { type ConfigLayer, type ConfigOrigins, readJsonConfig } from '@qlip/core';
import { sourceFromSpec } from '@qlip/data';
import { checkpointConfigLayer, presetLayer } from '@qlip/trainer';

/** The `qlip train` flags that make config layers. */
export interface TrainConfigFlags {
  preset?: string | undefined;
  config?: string | undefined;
  resume?: string | undefined;
  data?: string | undefined;
  'caption-template'?: string[] | undefined;
  steps?: number | undefined;
  'batch-size'?: number | undefined;
  lr?: string | undefined;
  stage?: number | undefined;
}

/** A flag's layer, named after the flag so errors and `--print-config` say which one set a value. */
const flagLayer = (flag: string, values: Record<string, unknown>): ConfigLayer => ({
  source: `flag --${flag}`,
  values,
});

/**
 * The config layers of a `qlip train` command line: the preset (or, resuming without one, the
 * checkpoint's config) < `--config` file < each flag. `--data` sets the whole `data.source`, picked from
 * what the value names (see `sourceFromSpec`); `note` says what it found.
 */
export async function trainConfigLayers(
  flags: TrainConfigFlags,
): Promise<{ layers: ConfigLayer[]; note?: string; samples?: number }> {
  const layers: ConfigLayer[] = [];
  if (flags.resume && !flags.preset) layers.push(await checkpointConfigLayer(flags.resume));
  else layers.push(presetLayer(flags.preset ?? 'tiny-mnist'));
  if (flags.config) layers.push({ source: flags.config, values: readJsonConfig(flags.config) });
  let note: string | undefined;
  let samples: number | undefined;
  const templates = flags['caption-template'];
  if (flags.data) {
    const found = await sourceFromSpec(flags.data, templates ? { captionTemplates: templates } : {});
    layers.push(flagLayer('data', { data: { source: found.source } }));
    note = `data: ${found.description}`;
    samples = found.samples;
  } else if (templates?.length) {
    layers.push(flagLayer('caption-template', { data: { source: { templates } } }));
  }
  if (flags.steps !== undefined) layers.push(flagLayer('steps', { steps: flags.steps }));
  if (flags.stage !== undefined) layers.push(flagLayer('stage', { stage: flags.stage }));
  if (flags['batch-size'] !== undefined)
    layers.push(flagLayer('batch-size', { data: { batchSize: flags['batch-size'] } }));
  if (flags.lr !== undefined) {
    // A non-number is passed through as text so validation names the flag and the bad value.
    const lr = Number(flags.lr);
    layers.push(flagLayer('lr', { optimizer: { lr: Number.isNaN(lr) ? flags.lr : lr } }));
  }
  return { layers, ...(note === undefined ? {} : { note }), ...(samples === undefined ? {} : { samples }) };
}

/** `key.path  value  (origin)` lines, aligned, in the config's own key order. */
export function renderConfig(origins: ConfigOrigins, config: unknown): string {
  const rows = Object.entries(origins).map(([key, from]) => {
    let v: unknown = config;
    for (const k of key.split('.')) v = (v as Record<string, unknown> | undefined)?.[k];
    return [key, JSON.stringify(v) ?? 'undefined', from] as const;
  });
  const kw = Math.max(...rows.map((r) => r[0].length));
  const vw = Math.min(40, Math.max(...rows.map((r) => r[1].length)));
  return rows.map(([k, v, from]) => `${k.padEnd(kw)}  ${v.padEnd(vw)}  # ${from}`).join('\n');
}

/** A warning when the data holds fewer samples than one batch: every batch then repeats the same images. */
export function smallDataWarning(samples: number | undefined, batchSize: number): string | undefined {
  if (samples === undefined || samples >= batchSize) return undefined;
  return `warning: ${samples} training image(s), fewer than one batch (${batchSize}): each batch repeats them; --batch-size ${samples} or fewer avoids that`;
}
