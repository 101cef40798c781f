#!/usr/bin/env node
// Regenerates the package graph in docs/architecture.md from the source imports (`pnpm graph`, i.e.
// dependency-cruiser), so the diagram cannot drift from the code: `node scripts/graph-doc.mjs` rewrites the
// mermaid block, `--check` exits 1 when it is stale.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const doc = join(root, 'docs', 'architecture.md');
const graph = execFileSync('pnpm', ['-s', 'graph'], { cwd: root, encoding: 'utf8' }).trim();
const text = readFileSync(doc, 'utf8');
const block = /```mermaid\n[\s\S]*?```/;
if (!block.test(text)) throw new Error(`${doc}: no mermaid block to replace`);
const next = text.replace(block, `\`\`\`mermaid\n${graph}\n\`\`\``);
if (process.argv.includes('--check')) {
  if (next !== text) {
    console.error(`${doc}: the package graph is stale; run \`pnpm graph:doc\``);
    process.exit(1);
  }
} else if (next !== text) {
  writeFileSync(doc, next);
  console.error(`${doc}: package graph updated`);
}
