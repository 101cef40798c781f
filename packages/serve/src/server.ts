import { createReadStream, existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import type { PreparedOnnx } from '@qlip/export';

/** One model as the page lists it (an entry of models.json). */
export interface WebModelEntry {
  name: string;
  /** URL path of the export folder, relative to the page. */
  path: string;
  /** The export's files (so the page asks for nothing else). */
  files?: string[];
  zeroShot?: { labels: string[]; templates: string[] };
  /** `unified`: a unified model's graphs (unified-onnx.json; captioning and generation), else a tokenizer. */
  kind?: 'unified';
}

/** A model served from disk under `models/<id>/`. */
export interface ServedModel {
  id: string;
  name: string;
  onnx: Pick<PreparedOnnx, 'dir' | 'files' | 'origin'>;
  kind?: 'unified';
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

/** Cross-origin isolation (SharedArrayBuffer, so onnxruntime-web can use threads) and no stale caching. */
const HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-cache',
};

async function sendFile(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  const s = await stat(path).catch(() => null);
  if (!s?.isFile()) return notFound(res, req.url ?? '');
  res.writeHead(200, {
    ...HEADERS,
    'Content-Type': TYPES[extname(path)] ?? 'application/octet-stream',
    'Content-Length': s.size,
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  createReadStream(path)
    .on('error', () => res.destroy())
    .pipe(res);
}

function notFound(res: ServerResponse, url: string): void {
  res.writeHead(404, { ...HEADERS, 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(`not found: ${url}\n`);
}

/** `root`/`rel`, or null when `rel` climbs out of `root`. */
function inside(root: string, rel: string): string | null {
  const path = normalize(join(root, rel));
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep) ? path : null;
}

/** models.json: the models served from disk first, then those the site was built with. */
async function modelList(siteDir: string, served: readonly ServedModel[]): Promise<WebModelEntry[]> {
  const own = served.map((m) => ({
    name: m.name,
    path: `models/${m.id}/`,
    files: m.onnx.files,
    ...(m.kind ? { kind: m.kind } : {}),
  }));
  const builtPath = join(siteDir, 'models.json');
  const built = existsSync(builtPath)
    ? ((JSON.parse(await readFile(builtPath, 'utf8')) as { models?: WebModelEntry[] }).models ?? [])
    : [];
  return [...own, ...built.filter((b) => !served.some((m) => `models/${m.id}/` === b.path))];
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  siteDir: string,
  served: readonly ServedModel[],
) {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { ...HEADERS, Allow: 'GET, HEAD' });
    res.end();
    return;
  }
  let path: string;
  try {
    path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  } catch {
    return notFound(res, req.url ?? '');
  }
  if (path === '/models.json') {
    const body = JSON.stringify({ models: await modelList(siteDir, served) });
    res.writeHead(200, { ...HEADERS, 'Content-Type': TYPES['.json']! });
    res.end(req.method === 'HEAD' ? undefined : body);
    return;
  }
  const model = /^\/models\/([^/]+)\/([^/]+)$/.exec(path);
  const own = model && served.find((m) => m.id === model[1]);
  if (own && model) {
    // Only the export's own files, never anything else in its folder.
    if (!own.onnx.files.includes(model[2]!)) return notFound(res, path);
    return sendFile(req, res, join(own.onnx.dir, model[2]!));
  }
  const file = inside(siteDir, path.endsWith('/') ? `${path}index.html` : path);
  if (!file) return notFound(res, path);
  return sendFile(req, res, file);
}

/** A running server. */
export interface WebServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Serve `siteDir` and the models on host:port (port 0 = any free port); resolves once listening. */
export function startServer(opts: {
  siteDir: string;
  models: readonly ServedModel[];
  host: string;
  port: number;
}): Promise<WebServer> {
  const server = createServer((req, res) => {
    handle(req, res, opts.siteDir, opts.models).catch((err: Error) => {
      if (!res.headersSent) res.writeHead(500, { ...HEADERS, 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(`server error: ${err.message}\n`);
    });
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(`${opts.host}:${opts.port} is already in use: pick another --port (0 = any free port)`)
          : err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND'
            ? new Error(`cannot listen on host ${opts.host}: ${err.message}`)
            : err,
      );
    });
    server.listen(opts.port, opts.host, () => {
      const { port } = server.address() as AddressInfo;
      const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
      resolvePromise({
        url: `http://${host}:${port}/`,
        server,
        close: () =>
          new Promise((r) => {
            server.close(() => r());
            server.closeAllConnections();
          }),
      });
    });
  });
}
