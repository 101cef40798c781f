import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { defaultClientConditions, defineConfig, type Plugin } from 'vite';

/**
 * onnxruntime-web's WebAssembly runtime (SIMD, threads, WebGPU through JSEP) served as plain files under
 * `ort/`: the page imports ORT's non-bundled build, which loads this glue and spawns its worker threads
 * from it (a bundled copy would start the page's own code in every worker).
 */
const ORT_FILES = ['ort-wasm-simd-threaded.jsep.mjs', 'ort-wasm-simd-threaded.jsep.wasm'];
const ortDist = dirname(
  createRequire(import.meta.url).resolve('onnxruntime-web/ort-wasm-simd-threaded.jsep.mjs'),
);

function ortRuntimeFiles(): Plugin {
  return {
    name: 'qlip-ort-runtime-files',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const name = req.url?.match(/\/ort\/([^?]+)/)?.[1];
        if (!name || !ORT_FILES.includes(name)) return next();
        res.setHeader('Content-Type', name.endsWith('.wasm') ? 'application/wasm' : 'text/javascript');
        createReadStream(join(ortDist, name)).pipe(res);
      });
    },
    async generateBundle() {
      for (const name of ORT_FILES)
        this.emitFile({
          type: 'asset',
          fileName: `ort/${name}`,
          source: await readFile(join(ortDist, name)),
        });
    },
  };
}

export default defineConfig({
  // Relative URLs: the built site works from any folder of any static host.
  base: './',
  resolve: { conditions: ['source', 'onnxruntime-web-use-extern-wasm', ...defaultClientConditions] },
  plugins: [ortRuntimeFiles()],
  build: { target: 'es2022', chunkSizeWarningLimit: 4096 },
  server: {
    headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' },
  },
});
