import { Flags } from '@oclif/core';
import { serveWeb } from '@qlip/serve';
import { QlipCommand } from '../lib/base.js';
import { resolveModelDir } from '../lib/model.js';
import { createProgressRenderer } from '../lib/progress.js';

export interface ServeCommandResult {
  url: string;
  models: { name: string; dir: string; origin: 'model' | 'cache' | 'exported'; kind?: 'unified' }[];
}

export default class Serve extends QlipCommand {
  static override summary =
    'Serve the qlip web page: tokenize, reconstruct, classify, caption and generate images in your browser';
  static override description =
    "Serves the built page (apps/web/dist) and the models' ONNX graphs on HOST:PORT with the cross-origin " +
    'isolation headers (COOP/COEP) that let onnxruntime-web use threads. Inference runs in the browser: the ' +
    'server only sends files. Each --model (a QLIP checkpoint folder, a Hugging Face id, or an ONNX export) is ' +
    'listed before the models the page was built with, each --unified (a unified model: caption and ' +
    'generate panels) likewise; a checkpoint without an ONNX export (<model>/onnx) is ' +
    'exported first into the cache (--cache-dir), never into the model folder, and reused on the next start. ' +
    'Prints the URL (--json: one line {"url", "models"} on stdout once listening) and serves until Ctrl-C ' +
    '(exit 130) or SIGTERM (143).';
  static override examples = [
    '<%= config.bin %> serve',
    '<%= config.bin %> serve --model runs/tiny-mnist/step-003000 --port 0 --json',
    '<%= config.bin %> serve --unified runs/um/step-002000',
  ];
  static override flags = {
    model: Flags.string({
      char: 'm',
      multiple: true,
      description:
        'QLIP model folder, Hugging Face id (org/name) or ONNX export folder to serve (repeatable); default: the shipped model(s)',
    }),
    unified: Flags.string({
      char: 'u',
      multiple: true,
      description:
        'unified model folder (or its ONNX export) for the caption and generate panels (repeatable); default: the shipped um-tiny-mnist',
    }),
    port: Flags.integer({
      char: 'p',
      description: 'TCP port (0 = any free port)',
      default: 8080,
      min: 0,
      max: 65535,
    }),
    host: Flags.string({ description: 'address to listen on', default: '127.0.0.1' }),
    'cache-dir': Flags.string({
      description: 'where exports made for serving are kept (default $QLIP_CACHE or ~/.cache/qlip)',
    }),
  };

  async run(): Promise<ServeCommandResult> {
    const { flags } = await this.parse(Serve);
    const models = await Promise.all((flags.model ?? []).map((m) => resolveModelDir(m)));
    const unified = await Promise.all((flags.unified ?? []).map((m) => resolveModelDir(m)));
    if (models.length || unified.length) await this.initBackend(flags.backend); // only an export needs tfjs
    const progress = createProgressRenderer();
    const served = await serveWeb({
      models,
      unified,
      host: flags.host,
      port: flags.port,
      cacheDir: flags['cache-dir'],
      onProgress: progress.listener,
    }).finally(() => progress.stop());
    const result: ServeCommandResult = { url: served.url, models: served.models };
    if (this.jsonEnabled()) process.stdout.write(`${JSON.stringify(result)}\n`);
    else {
      for (const m of served.models) this.note(`model ${m.name}: ${m.dir} (${m.origin})`);
      this.log(`qlip web page: ${served.url}  (Ctrl-C to stop)`);
    }
    // Serve until a stop signal; exit with its status (130 for Ctrl-C, 143 for SIGTERM) like every command.
    await this.withInterrupt(async (signal) => {
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      await served.close();
    }, 'closing the server');
    // The result was printed when the server started; exit here so --json prints nothing twice.
    process.exit(process.exitCode ?? 0);
  }
}
