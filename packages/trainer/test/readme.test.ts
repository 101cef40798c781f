import { readFileSync } from 'node:fs';
import { parseQLIPConfig } from '@qlip/model';
import { describe, expect, it } from 'vitest';
import { PRESETS, presetLayer, resolveTrainConfig, type TrainConfig } from '../src/index.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

/** The README's row for a preset, computed from the resolved preset (so the table cannot drift from the JSON). */
function presetRow(name: string, c: TrainConfig): string {
  const m = parseQLIPConfig(c.model);
  const [v, d, t] = [m.vision_config, m.decoder_config, m.text_config];
  const src = c.data.source as { kind: string; name?: string; split?: string; shards?: string };
  const data =
    src.kind === 'builtin'
      ? `${src.name}${src.split ? ` (${src.split})` : ''}`
      : `${src.kind} \`${src.shards}\``;
  const side = v.image_size / v.patch_size;
  const q = v.quantizer_cfg;
  return [
    `\`${name}\``,
    data,
    `${v.image_size} / ${v.patch_size}`,
    `${side}x${side} x ${q.embed_dim} bits (groups of ${q.group_size})`,
    `${v.hidden_size} x ${v.num_hidden_layers} / ${d.hidden_size} x ${d.num_hidden_layers}`,
    `${t.hidden_size} x ${t.num_hidden_layers}, context ${t.max_position_embeddings}`,
    `${c.data.batchSize} x ${c.optimizer.gradAccum}`,
    String(c.steps),
    `${c.optimizer.lr} (warmup ${c.schedule.warmupSteps})`,
  ].join(' | ');
}

describe('README', () => {
  it.each(PRESETS)('the presets table states what %s.json says', (name) => {
    const row = presetRow(name, resolveTrainConfig([presetLayer(name)]));
    expect(readme, `packages/trainer/README.md presets table: expected the row | ${row} |`).toContain(
      `| ${row} |`,
    );
  });
});
