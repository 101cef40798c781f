// Install script: build the native SGEMM addon with node-gyp against the local Node headers.
// It never fails the install: without a compiler (or headers) qlip keeps the stock tfjs wasm kernels.
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const { dirname, join } = require('node:path');

const root = dirname(__dirname);
const verbose = process.argv.includes('--verbose');
const say = (msg) => console.log(`@qlip/native-kernels: ${msg}`);

/** A Node install prefix whose include/node has node_api.h (distro packages, official tarballs). */
function localNodeDir() {
  const fromConfig = process.env.npm_config_nodedir;
  if (fromConfig && existsSync(join(fromConfig, 'include', 'node', 'node_api.h'))) return fromConfig;
  const prefix = dirname(dirname(process.execPath));
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined;
}

function main() {
  if (process.env.QLIP_NATIVE_BUILD === '0')
    return say('build skipped (QLIP_NATIVE_BUILD=0); stock wasm kernels stay');
  let gyp;
  try {
    gyp = require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] });
  } catch {
    return say('node-gyp is not installed; stock wasm kernels stay');
  }
  const nodedir = localNodeDir();
  if (!nodedir)
    return say(
      `no Node headers next to ${process.execPath} (set npm_config_nodedir); stock wasm kernels stay`,
    );
  const res = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`, '--jobs=max'], {
    cwd: root,
    stdio: verbose ? 'inherit' : 'pipe',
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (res.status === 0 && existsSync(join(root, 'build', 'Release', 'qlip_native.node'))) {
    return say('built native SGEMM (build/Release/qlip_native.node)');
  }
  const out = `${res.stderr ?? ''}\n${res.stdout ?? ''}`;
  const why =
    res.error?.message ??
    out
      .split('\n')
      .find((l) => /error/i.test(l))
      ?.trim() ??
    `exit ${res.status}`;
  say(`native SGEMM not built (${why.slice(0, 200)}); stock wasm kernels stay`);
}

try {
  main();
} catch (err) {
  say(`native SGEMM not built (${String(err?.message ?? err).split('\n')[0]}); stock wasm kernels stay`);
}
process.exitCode = 0;
