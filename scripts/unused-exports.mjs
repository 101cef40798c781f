#!/usr/bin/env node
// Counts the names each workspace package makes public (everything its package.json `exports` entry files
// export, `export *` followed) that no other file imports, so the figure in issue 15 ("N of M names
// re-exported by the index.ts files are used by no other file") can be re-measured:
//
//   node scripts/unused-exports.mjs            # summary + the unused names, per package
//   node scripts/unused-exports.mjs --json     # machine-readable
//
// A name counts as used when some file imports it through the package's specifier (`@qlip/x`, `@qlip/x/browser`),
// or when a file of the package itself outside src/ (its tests, benchmarks, scripts) imports it through the entry
// file (`../src/index.js`): such a test exercises the public API. A test that imports the name from its module
// file (`../src/foo.js`) tests the function, not the package surface, and does not count. Documented API counts
// too: imports in the fenced ts/js code blocks of README.md files and docs/*.md, and names the package's README
// or docs/*.md write in backticks as code (`name(...)`, `name`). Names whose only users are tests
// are listed separately ("test-only"): they are public API a test relies on, but worth a look.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const asJson = process.argv.includes('--json');
const SKIP_DIRS = new Set(['node_modules', 'dist', 'build', '.turbo', 'fixtures', 'public']);
const CODE = /\.(ts|tsx|mts|js|mjs|cjs)$/;

/** Every workspace (packages/*, apps/*) with its name and public entry files. */
function workspaces() {
  const out = [];
  for (const group of ['packages', 'apps']) {
    for (const dir of readdirSync(join(root, group))) {
      const pkgDir = join(root, group, dir);
      let pkg;
      try {
        pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
      } catch {
        continue;
      }
      const entries = new Map(); // specifier -> absolute source file
      for (const [sub, target] of Object.entries(pkg.exports ?? {})) {
        const src = typeof target === 'string' ? target : target.source;
        if (!src?.endsWith('.ts')) continue;
        entries.set(sub === '.' ? pkg.name : `${pkg.name}/${sub.replace(/^\.\//, '')}`, join(pkgDir, src));
      }
      out.push({ name: pkg.name, dir: pkgDir, entries });
    }
  }
  return out;
}

function walk(dir, files = []) {
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return files;
  }
  for (const n of names) {
    if (SKIP_DIRS.has(n) || n.startsWith('.')) continue;
    const p = join(dir, n);
    if (statSync(p).isDirectory()) walk(p, files);
    else if (CODE.test(n) && !n.endsWith('.d.ts')) files.push(p);
  }
  return files;
}

/** Names exported by each entry file, `export *` chains followed by the type checker. */
function exportedNames(entryFiles) {
  const program = ts.createProgram(entryFiles, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    noEmit: true,
    skipLibCheck: true,
    noResolve: false,
  });
  const checker = program.getTypeChecker();
  const out = new Map();
  for (const f of entryFiles) {
    const sf = program.getSourceFile(f);
    const sym = sf && checker.getSymbolAtLocation(sf);
    out.set(f, sym ? checker.getExportsOfModule(sym).map((s) => s.getName()) : []);
  }
  return out;
}

/** Every (specifier, name) a piece of code imports; `*` for a namespace use we cannot resolve. */
function importsOf(text, fileName) {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const found = [];
  const nsUses = (ident, spec) => {
    // `ns.name` property accesses of a namespace import or a dynamically imported module bound to `ident`.
    const visit = (n) => {
      if (ts.isPropertyAccessExpression(n) && ts.isIdentifier(n.expression) && n.expression.text === ident)
        found.push([spec, n.name.text]);
      if (ts.isQualifiedName(n) && ts.isIdentifier(n.left) && n.left.text === ident)
        found.push([spec, n.right.text]);
      ts.forEachChild(n, visit);
    };
    visit(sf);
  };
  const bindingNames = (pattern, spec) => {
    for (const el of pattern.elements) found.push([spec, (el.propertyName ?? el.name).getText(sf)]);
  };
  const visit = (n) => {
    if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier)) {
      const spec = n.moduleSpecifier.text;
      const clause = n.importClause;
      if (clause?.namedBindings && ts.isNamedImports(clause.namedBindings))
        for (const el of clause.namedBindings.elements) found.push([spec, (el.propertyName ?? el.name).text]);
      else if (clause?.namedBindings && ts.isNamespaceImport(clause.namedBindings))
        nsUses(clause.namedBindings.name.text, spec);
      if (clause?.name) found.push([spec, 'default']);
    } else if (ts.isExportDeclaration(n) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      const spec = n.moduleSpecifier.text;
      if (n.exportClause && ts.isNamedExports(n.exportClause))
        for (const el of n.exportClause.elements) found.push([spec, (el.propertyName ?? el.name).text]);
      else found.push([spec, '*']);
    } else if (
      ts.isImportTypeNode(n) &&
      ts.isLiteralTypeNode(n.argument) &&
      ts.isStringLiteral(n.argument.literal)
    ) {
      const q = n.qualifier;
      if (q)
        found.push([n.argument.literal.text, ts.isIdentifier(q) ? q.text : q.left.getText(sf).split('.')[0]]);
    } else if (
      ts.isCallExpression(n) &&
      n.expression.kind === ts.SyntaxKind.ImportKeyword &&
      n.arguments[0] &&
      ts.isStringLiteral(n.arguments[0])
    ) {
      const spec = n.arguments[0].text;
      let p = n.parent;
      while (p && (ts.isAwaitExpression(p) || ts.isParenthesizedExpression(p))) p = p.parent;
      if (p && ts.isPropertyAccessExpression(p)) found.push([spec, p.name.text]);
      else {
        // `const { a } = await import(x)`, `const mod = await optionalImport(() => import(x))`
        while (p && !ts.isVariableDeclaration(p) && !ts.isSourceFile(p) && !ts.isBlock(p)) p = p.parent;
        if (p && ts.isVariableDeclaration(p)) {
          if (ts.isObjectBindingPattern(p.name)) bindingNames(p.name, spec);
          else if (ts.isIdentifier(p.name)) nsUses(p.name.text, spec);
        }
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return found;
}

/** Fenced ts/js blocks of the README files and docs/*.md, as pseudo-files. */
function docBlocks() {
  const mds = [join(root, 'README.md')];
  for (const d of [
    'docs',
    ...['packages', 'apps'].flatMap((g) => readdirSync(join(root, g)).map((x) => join(g, x))),
  ]) {
    const dir = join(root, d);
    try {
      for (const n of readdirSync(dir)) if (n.endsWith('.md')) mds.push(join(dir, n));
    } catch {}
  }
  const blocks = [];
  for (const md of mds) {
    let text;
    try {
      text = readFileSync(md, 'utf8');
    } catch {
      continue;
    }
    for (const m of text.matchAll(/```(?:ts|typescript|js|javascript|mjs)\n([\s\S]*?)```/g))
      blocks.push({ file: md, text: m[1] });
  }
  return blocks;
}

const ws = workspaces();
const entryToWs = new Map();
const specToEntry = new Map();
for (const w of ws)
  for (const [spec, file] of w.entries) {
    entryToWs.set(file, w);
    specToEntry.set(spec, file);
  }
const names = exportedNames([...entryToWs.keys()]);
// entry file -> name -> set of user kinds ('src' | 'test' | 'docs')
const users = new Map([...names].map(([f, ns]) => [f, new Map(ns.map((n) => [n, new Set()]))]));

const record = (entry, name, kind) => {
  const m = users.get(entry);
  if (!m) return;
  if (name === '*') for (const s of m.values()) s.add(kind);
  else m.get(name)?.add(kind);
};

for (const w of ws) {
  for (const file of walk(w.dir)) {
    const rel = relative(w.dir, file);
    const inSrc = rel.startsWith('src/');
    const kind = /(^|\/)test\//.test(rel) || /\.test\.[cm]?[jt]s$/.test(rel) ? 'test' : 'src';
    for (const [spec, name] of importsOf(readFileSync(file, 'utf8'), file)) {
      let entry = specToEntry.get(spec);
      if (entry && entryToWs.get(entry) === w && inSrc) continue; // a package importing itself by name
      if (!entry && spec.startsWith('.') && !inSrc) {
        // the package's own tests/scripts through its entry file (`../src/index.js`)
        const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
        if (entryToWs.get(target) === w) entry = target;
      }
      if (entry) record(entry, name, kind);
    }
  }
}
for (const b of docBlocks())
  for (const [spec, name] of importsOf(b.text, `${b.file}.ts`)) {
    const entry = specToEntry.get(spec);
    if (entry) record(entry, name, 'docs');
  }
// A name the package's README (or docs/*.md) names in backticks as API (`name(`, `name`, `name.x`) is
// documented public API too: the docs teach it.
const proseOf = (dir) => {
  const texts = [];
  for (const f of [
    join(dir, 'README.md'),
    ...readdirSync(join(root, 'docs')).map((n) => join(root, 'docs', n)),
  ]) {
    try {
      if (f.endsWith('.md')) texts.push(readFileSync(f, 'utf8'));
    } catch {}
  }
  return texts.join('\n');
};
for (const [entry, m] of users) {
  const prose = proseOf(entryToWs.get(entry).dir);
  for (const [name, kinds] of m) {
    if (kinds.size > 0) continue;
    const re = new RegExp(`\`(?:[\\w.]+\\.)?${name.replace(/[$]/g, '\\$')}(?:[(.<\`])`);
    if (re.test(prose)) kinds.add('docs');
  }
}

const report = [];
let total = 0;
let unused = 0;
let testOnly = 0;
for (const [entry, m] of users) {
  const w = entryToWs.get(entry);
  const un = [];
  const to = [];
  for (const [name, kinds] of m) {
    if (kinds.size === 0) un.push(name);
    else if (kinds.size === 1 && kinds.has('test')) to.push(name);
  }
  total += m.size;
  unused += un.length;
  testOnly += to.length;
  report.push({
    package: w.name,
    entry: relative(root, entry),
    exported: m.size,
    unused: un.sort(),
    testOnly: to.sort(),
  });
}
const pct = (n) => `${((100 * n) / Math.max(1, total)).toFixed(0)} %`;
if (asJson) {
  console.log(JSON.stringify({ total, unused, testOnly, entries: report }, null, 2));
} else {
  for (const r of report) {
    if (!r.unused.length && !r.testOnly.length) continue;
    console.log(`${r.entry} (${r.exported} exported)`);
    if (r.unused.length) console.log(`  unused (${r.unused.length}): ${r.unused.join(', ')}`);
    if (r.testOnly.length) console.log(`  test-only (${r.testOnly.length}): ${r.testOnly.join(', ')}`);
  }
  console.log(
    `\n${unused} of ${total} exported names (${pct(unused)}) are imported by no other file; ${testOnly} more (${pct(testOnly)}) only by tests.`,
  );
}
