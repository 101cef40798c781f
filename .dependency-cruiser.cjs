/**
 * The layers of the workspace (run by `pnpm lint`; `pnpm graph` draws them). Dependencies point one way:
 *
 *   core  ->  maths (bsq, nn, losses, feature-nets, native-kernels, data, test-utils)
 *         ->  model (encoder, text-encoder, model)
 *         ->  jobs (every other package: trainer, tokenize, eval, export, bench, demo, pretrained, ...)
 *         ->  apps (apps/*: the CLI, the web app)
 *
 * A package may import its own layer or a lower one; a new package under packages/ is a job unless it is
 * listed below. Workspace imports resolve to source through the `source` export condition.
 */
const CORE = 'core';
const MATHS = 'bsq|nn|losses|feature-nets|native-kernels|data|test-utils';
const MODEL = 'encoder|text-encoder|model';
const pkg = (names) => `^packages/(${names})/`;

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'core-imports-nothing-of-ours',
      comment: 'core is the bottom layer: accelerators reach it through registerBackendAccelerator',
      severity: 'error',
      from: { path: pkg(CORE) },
      to: { path: '^(packages|apps)/', pathNot: pkg(CORE) },
    },
    {
      name: 'maths-below-model',
      comment: 'maths packages import only core and each other',
      severity: 'error',
      from: { path: pkg(MATHS) },
      to: { path: '^(packages|apps)/', pathNot: pkg(`${CORE}|${MATHS}`) },
    },
    {
      name: 'model-below-jobs',
      comment: 'model packages import only core, maths and each other',
      severity: 'error',
      from: { path: pkg(MODEL) },
      to: { path: '^(packages|apps)/', pathNot: pkg(`${CORE}|${MATHS}|${MODEL}`) },
    },
    {
      name: 'nothing-imports-apps',
      comment: 'apps are leaves: libraries and other apps never import them',
      severity: 'error',
      from: { path: '^(packages/|apps/([^/]+)/)' },
      to: { path: '^apps/([^/]+)/', pathNot: '^apps/$2/' },
    },
    {
      name: 'no-other-packages-tests',
      comment: 'share test helpers through @qlip/test-utils, not by reaching into another test folder',
      severity: 'error',
      from: { path: '^(packages|apps)/([^/]+)/' },
      to: { path: '^(packages|apps)/([^/]+)/test/', pathNot: '^(packages|apps)/$2/test/' },
    },
    {
      name: 'src-not-to-test',
      comment: 'library code never imports test code',
      severity: 'error',
      from: { path: '^(packages|apps)/[^/]+/src/' },
      to: { path: '/test/' },
    },
    {
      name: 'test-utils-only-in-tests',
      comment: '@qlip/test-utils is a devDependency: library code never imports it',
      severity: 'error',
      from: { path: '^(packages|apps)/[^/]+/src/', pathNot: '^packages/test-utils/' },
      to: { path: '^packages/test-utils/' },
    },
    {
      name: 'src-not-to-dev-dep',
      comment: 'a package that src imports is a dependency, not a devDependency',
      severity: 'error',
      from: { path: '^(packages|apps)/[^/]+/src/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-circular',
      comment: 'no import cycles (a cycle made of type-only imports does not exist at run time)',
      severity: 'error',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'every import of ours resolves: a workspace package is declared in package.json',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // our files, plus any @qlip/ import that did not resolve (an undeclared workspace dependency)
    includeOnly: '^(packages|apps)/|^@qlip/',
    exclude: { path: '(^|/)(dist|build|node_modules|fixtures)/|\\.d\\.ts$' },
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    combinedDependencies: true,
    enhancedResolveOptions: {
      conditionNames: ['source', 'import', 'require', 'node', 'default'],
      exportsFields: ['exports'],
      extensions: ['.ts', '.mts', '.js', '.mjs', '.cjs', '.json'],
      mainFields: ['module', 'main', 'types'],
    },
    reporterOptions: {
      dot: {
        collapsePattern: '^(packages|apps)/[^/]+',
      },
    },
  },
};
