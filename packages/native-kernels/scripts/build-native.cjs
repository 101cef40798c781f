// Install script: build the native SGEMM addon with node-gyp against the local Node headers.
// It never fails the install: without a compiler (or headers) qlip keeps the stock tfjs wasm kernels.
'use strict';
const { spawnSync } = require('node:child_process');
const {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} = require('node:fs');
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

const addon = join(root, 'build', 'Release', 'qlip_native.node');
const stampFile = join(root, 'build', 'qlip-build.json');
const stamp = () => JSON.stringify({ node: process.version, arch: process.arch, platform: process.platform });

/** True when the addon exists, was built by this Node, and is newer than every source file. */
function upToDate() {
  try {
    if (readFileSync(stampFile, 'utf8') !== stamp()) return false;
    const sources = ['binding.gyp', ...readdirSync(join(root, 'native')).map((f) => join('native', f))];
    const built = statSync(addon).mtimeMs;
    return sources.every((f) => statSync(join(root, f)).mtimeMs <= built);
  } catch {
    return false;
  }
}

const lockDir = join(root, '.build-lock');

/** Serialises concurrent installs (several `pnpm install` runs in one checkout): node-gyp shares build/. */
function withLock(fn) {
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      mkdirSync(lockDir);
      break;
    } catch {
      let age = 0;
      try {
        age = Date.now() - statSync(lockDir).mtimeMs;
      } catch {}
      if (age > 15 * 60_000) rmSync(lockDir, { recursive: true, force: true });
      if (Date.now() > deadline) return say('another build holds .build-lock; stock wasm kernels stay');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

function main() {
  if (process.env.QLIP_NATIVE_BUILD === '0')
    return say('build skipped (QLIP_NATIVE_BUILD=0); stock wasm kernels stay');
  // Every `pnpm install` in the workspace re-runs this script; rebuilding would delete the working addon
  // for the length of a compile while other processes may be loading it.
  if (!process.argv.includes('--force') && upToDate()) return say('native SGEMM up to date');
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
  if (res.status === 0 && existsSync(addon)) {
    writeFileSync(stampFile, stamp());
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
  withLock(main);
} catch (err) {
  say(`native SGEMM not built (${String(err?.message ?? err).split('\n')[0]}); stock wasm kernels stay`);
}
process.exitCode = 0;
