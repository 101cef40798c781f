import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
// The Node build of tfjs-core registers neither gradients nor the chained `t.add()` methods; the union
// package registers both on the shared engine (its ESM-only registration files do not load in Node).
import '@tensorflow/tfjs';
import { registerCpuTrainingKernels } from './cpu-kernels.js';
import { firstLine, optionalImport } from './optional-import.js';
import { registerWasmTrainingKernels } from './wasm-kernels.js';

/** What the user may ask for. `auto` picks the fastest backend that loads on this machine. */
export const BACKEND_CHOICES = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** The backend actually in use, as reported to the user. */
export interface BackendInfo {
  /** What was requested (flag, `QLIP_BACKEND`, or `auto`). */
  requested: BackendChoice;
  /** tfjs backend name: `tensorflow`, `wasm` or `cpu`. */
  name: 'tensorflow' | 'wasm' | 'cpu';
  /** Human-readable detail: which package provided it, whether native kernels are active. */
  detail: string;
  /** Backends that were tried and failed, with the reason (empty when the first choice worked). */
  skipped: { name: string; reason: string }[];
}

let current: BackendInfo | undefined;

/**
 * Hook through which a package above core speeds up a backend (`@qlip/native-kernels` replaces the wasm
 * matmul and transpose kernels). Entry points (the CLI, the library API, the bench, test setup) register it:
 * core itself imports no other package of ours.
 */
export type BackendAccelerator = (backendName: string) => Promise<string | undefined>;
const accelerators = new Set<BackendAccelerator>();

/**
 * Register a function run after a backend is selected; it returns a note for `detail` (e.g.
 * `native SGEMM avx2, 2 threads`) or undefined. Registering the same function again is a no-op.
 */
export function registerBackendAccelerator(fn: BackendAccelerator): void {
  accelerators.add(fn);
}

function parseChoice(value: string | undefined): BackendChoice {
  const v = (value ?? 'auto').trim().toLowerCase();
  if ((BACKEND_CHOICES as readonly string[]).includes(v)) return v as BackendChoice;
  throw new Error(`Unknown backend "${value}": expected one of ${BACKEND_CHOICES.join(', ')}`);
}

/** Native TensorFlow packages in the order `auto` tries them (importing one registers `tensorflow`). */
const TENSORFLOW_PACKAGES = {
  '@tensorflow/tfjs-node-gpu': () => import('@tensorflow/tfjs-node-gpu'),
  '@tensorflow/tfjs-node': () => import('@tensorflow/tfjs-node'),
};

async function tryTensorflow(skipped: BackendInfo['skipped']): Promise<string | undefined> {
  for (const [pkg, load] of Object.entries(TENSORFLOW_PACKAGES)) {
    // Check for the native binding first: importing a package whose binding is missing registers
    // half its kernels before failing, and the next candidate then warns about every kernel.
    const missing = missingBinding(pkg);
    if (missing) {
      skipped.push({ name: pkg, reason: missing });
      continue;
    }
    const loaded = await optionalImport(load);
    if (loaded.error !== undefined) {
      skipped.push({ name: pkg, reason: loaded.error });
      continue;
    }
    try {
      if (await tf.setBackend('tensorflow')) return pkg;
      skipped.push({ name: pkg, reason: 'backend did not initialise' });
    } catch (err) {
      skipped.push({ name: pkg, reason: firstLine(err) });
    }
  }
  return undefined;
}

const require = createRequire(import.meta.url);

/** Why `pkg` cannot load (not installed, or installed without its native binding), else undefined. */
function missingBinding(pkg: string): string | undefined {
  let root: string;
  try {
    root = dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    return 'not installed';
  }
  const lib = join(root, 'lib');
  const found =
    existsSync(lib) &&
    readdirSync(lib).some((d) => d.startsWith('napi-v') && existsSync(join(lib, d, 'tfjs_binding.node')));
  return found ? undefined : 'installed without its native binding (libtensorflow download needs internet)';
}

async function tryWasm(skipped: BackendInfo['skipped']): Promise<boolean> {
  try {
    await import('@tensorflow/tfjs-backend-wasm');
    if (await tf.setBackend('wasm')) {
      registerWasmTrainingKernels();
      return true;
    }
    skipped.push({ name: 'wasm', reason: 'backend did not initialise' });
  } catch (err) {
    skipped.push({ name: 'wasm', reason: firstLine(err) });
  }
  return false;
}

/**
 * Select and initialise the tfjs backend.
 *
 * Order for `auto`: `@tensorflow/tfjs-node-gpu`, `@tensorflow/tfjs-node` (both optional dependencies
 * that need libtensorflow), then `@tensorflow/tfjs-backend-wasm`, then the pure-JS `cpu` backend.
 * An explicit choice that cannot load is an error (never a silent fallback).
 *
 * @param requested `auto | tensorflow | wasm | cpu`; defaults to `$QLIP_BACKEND` or `auto`.
 */
export async function selectBackend(requested?: string): Promise<BackendInfo> {
  const choice = parseChoice(requested ?? process.env.QLIP_BACKEND);
  // PROD silences tfjs' console banners ("looks like you are running TensorFlow.js in Node.js"),
  // which would otherwise land in the middle of CLI output.
  tf.env().set('PROD', true);
  // Reuse the previous selection only while it is still the active tfjs backend (tests switch backends).
  if (
    current &&
    (choice === current.requested || choice === current.name) &&
    tf.getBackend() === current.name
  )
    return current;
  const skipped: BackendInfo['skipped'] = [];
  let name: BackendInfo['name'] | undefined;
  let detail = '';
  if (choice === 'auto' || choice === 'tensorflow') {
    const pkg = await tryTensorflow(skipped);
    if (pkg) {
      name = 'tensorflow';
      detail = `native TensorFlow via ${pkg}`;
    } else if (choice === 'tensorflow') {
      throw new Error(
        `Backend "tensorflow" is not available: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}. ` +
          'Install @tensorflow/tfjs-node (or -gpu) with internet access, or use --backend wasm.',
      );
    }
  }
  if (!name && (choice === 'auto' || choice === 'wasm')) {
    if (await tryWasm(skipped)) {
      name = 'wasm';
      detail = 'WebAssembly (single thread)';
    } else if (choice === 'wasm') {
      throw new Error(`Backend "wasm" is not available: ${skipped.at(-1)?.reason}`);
    }
  }
  if (!name) {
    await import('@tensorflow/tfjs-backend-cpu');
    await tf.setBackend('cpu');
    registerCpuTrainingKernels();
    name = 'cpu';
    detail = 'pure JavaScript (slow)';
  }
  await tf.ready();
  for (const acc of accelerators) {
    const note = await acc(name);
    if (note) detail += `, ${note}`;
  }
  current = { requested: choice, name, detail, skipped };
  return current;
}
