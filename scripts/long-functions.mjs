#!/usr/bin/env node
// Lists source functions (packages/*/src, apps/*/src; not tests) longer than a limit or nested deeper than a
// limit, with the TypeScript compiler's parser. Lines are the function's full span (signature to closing brace);
// nesting counts control statements (if/else-if chains count once, for, while, do, switch, try) inside one
// function, not inside functions it defines. `node scripts/long-functions.mjs [--lines 80] [--depth 4] [--json]`
// exits 1 when something is over a limit.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const maxLines = option('--lines', 80);
const maxDepth = option('--depth', 4);

/** Every .ts/.tsx file under dir (no declaration files). */
function sources(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (/\.tsx?$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

function sourceDirs() {
  const dirs = [];
  for (const group of ['packages', 'apps']) {
    for (const name of readdirSync(join(root, group))) {
      const src = join(root, group, name, 'src');
      if (statSync(src, { throwIfNoEntry: false })?.isDirectory()) dirs.push(src);
    }
  }
  return dirs;
}

const isFunction = (n) =>
  ts.isFunctionDeclaration(n) ||
  ts.isMethodDeclaration(n) ||
  ts.isArrowFunction(n) ||
  ts.isFunctionExpression(n) ||
  ts.isConstructorDeclaration(n) ||
  ts.isGetAccessorDeclaration(n) ||
  ts.isSetAccessorDeclaration(n);

const isNesting = (n) =>
  ts.isForStatement(n) ||
  ts.isForOfStatement(n) ||
  ts.isForInStatement(n) ||
  ts.isWhileStatement(n) ||
  ts.isDoStatement(n) ||
  ts.isSwitchStatement(n) ||
  ts.isTryStatement(n) ||
  // `else if` continues one chain: only the first `if` of a chain nests
  (ts.isIfStatement(n) && !(ts.isIfStatement(n.parent) && n.parent.elseStatement === n));

/** Deepest control nesting inside fn's body, not descending into functions it defines. */
function depthOf(fn) {
  let deepest = 0;
  const walk = (node, depth) => {
    if (node !== fn && isFunction(node)) return;
    const d = isNesting(node) ? depth + 1 : depth;
    deepest = Math.max(deepest, d);
    ts.forEachChild(node, (c) => walk(c, d));
  };
  walk(fn, 0);
  return deepest;
}

function nameOf(fn, sf) {
  if (fn.name) return fn.name.getText(sf);
  if (ts.isConstructorDeclaration(fn)) return 'constructor';
  const p = fn.parent;
  if (ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p))
    return p.name.getText(sf);
  const line = sf.getLineAndCharacterOfPosition(fn.getStart(sf)).line + 1;
  return `<anonymous:${line}>`;
}

const functions = [];
for (const dir of sourceDirs()) {
  for (const file of sources(dir)) {
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node) => {
      if (isFunction(node) && node.body) {
        const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
        const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line + 1;
        functions.push({
          file: relative(root, file),
          line: start,
          name: nameOf(node, sf),
          lines: end - start + 1,
          depth: depthOf(node),
        });
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
}

const long = functions.filter((f) => f.lines > maxLines).sort((a, b) => b.lines - a.lines);
const deep = functions.filter((f) => f.depth > maxDepth).sort((a, b) => b.depth - a.depth);
const longest = functions.reduce((a, b) => (b.lines > a.lines ? b : a));
const deepest = functions.reduce((a, b) => (b.depth > a.depth ? b : a));
const summary = { functions: functions.length, maxLines, maxDepth, long, deep, longest, deepest };

if (args.includes('--json')) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
else {
  const row = (f) =>
    `  ${String(f.lines).padStart(4)} lines  depth ${f.depth}  ${f.file}:${f.line}  ${f.name}`;
  console.log(
    `${functions.length} functions; longest ${longest.lines} lines (${longest.file}:${longest.line} ${longest.name}); deepest nesting ${deepest.depth} (${deepest.file}:${deepest.line} ${deepest.name})`,
  );
  console.log(`${long.length} over ${maxLines} lines:`);
  for (const f of long) console.log(row(f));
  console.log(`${deep.length} nested deeper than ${maxDepth}:`);
  for (const f of deep) console.log(row(f));
}
process.exitCode = long.length > 0 || deep.length > 0 ? 1 : 0;
