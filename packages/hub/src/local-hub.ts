import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

/**
 * A Hugging Face hub on 127.0.0.1 serving model folders, for tests and air-gapped mirrors: the routes
 * `@huggingface/hub` and Python's huggingface_hub call (model info, tree, paths-info, resolve with range
 * requests, LFS redirects) with the hub's headers (ETag, X-Repo-Commit, X-Linked-Etag, X-Linked-Size,
 * X-Error-Code). Files are read into memory: meant for small models.
 */
interface LocalHubRepo {
  /** Each revision is a folder; `refs` are the branch/tag names that point to it (`main` by default for the last). */
  revisions: { dir: string; refs?: string[] }[];
  /** When set, requests must carry `Authorization: Bearer <token>` (a private repository). */
  token?: string;
}

interface LocalHubOptions {
  repos: Record<string, LocalHubRepo>;
  /** Fault injection: cut the connection after `afterBytes` bytes of a response body for `path`, `times` times. */
  drop?: { path: string; afterBytes: number; times?: number };
}

interface LocalHubRequest {
  method: string;
  url: string;
  range?: string;
  authorization?: string;
}

export interface LocalHub {
  /** The endpoint, for HF_ENDPOINT. */
  url: string;
  /** Commit hash of each repository's revisions, in the order given. */
  commits: Record<string, string[]>;
  requests: LocalHubRequest[];
  close(): Promise<void>;
}

interface Entry {
  path: string;
  data: Buffer;
  oid: string;
  lfs?: { oid: string; size: number; pointerSize: number };
}
interface Revision {
  commit: string;
  files: Map<string, Entry>;
}

const LFS = /\.(safetensors|onnx|data|bin|msgpack|h5|npy)$/;
const gitOid = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

function walk(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((d) => {
    const rel = prefix ? `${prefix}/${d.name}` : d.name;
    return d.isDirectory() ? walk(dir, rel) : [rel];
  });
}

function loadRevision(repo: string, dir: string, n: number): Revision {
  const files = new Map<string, Entry>();
  for (const path of walk(dir).sort()) {
    const data = readFileSync(join(dir, path));
    if (!LFS.test(path)) {
      files.set(path, { path, data, oid: gitOid(data) });
      continue;
    }
    const sha = createHash('sha256').update(data).digest('hex');
    const pointer = Buffer.from(
      `version https://git-lfs.github.com/spec/v1\noid sha256:${sha}\nsize ${data.length}\n`,
    );
    files.set(path, {
      path,
      data,
      oid: gitOid(pointer),
      lfs: { oid: sha, size: data.length, pointerSize: pointer.length },
    });
  }
  const h = createHash('sha1').update(`${repo}\0${n}`);
  for (const e of files.values()) h.update(`${e.path}\0${e.oid}\0`);
  return { commit: h.digest('hex'), files };
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function fail(res: ServerResponse, status: number, code: string, message: string) {
  json(res, status, { error: message }, { 'X-Error-Code': code, 'X-Error-Message': message });
}

function treeEntry(e: Entry) {
  return { type: 'file', oid: e.oid, size: e.data.length, path: e.path, ...(e.lfs ? { lfs: e.lfs } : {}) };
}

/** Start the hub on 127.0.0.1 at a free port. */
export async function serveLocalHub(opts: LocalHubOptions): Promise<LocalHub> {
  const repos = new Map<string, { revs: Revision[]; refs: Map<string, Revision>; token?: string }>();
  const commits: Record<string, string[]> = {};
  for (const [name, r] of Object.entries(opts.repos)) {
    const revs = r.revisions.map((v, i) => loadRevision(name, v.dir, i));
    const refs = new Map<string, Revision>();
    r.revisions.forEach((v, i) => {
      for (const ref of v.refs ?? (i === r.revisions.length - 1 ? ['main'] : [])) refs.set(ref, revs[i]!);
    });
    repos.set(name, { revs, refs, ...(r.token ? { token: r.token } : {}) });
    commits[name] = revs.map((v) => v.commit);
  }
  const requests: LocalHubRequest[] = [];
  let drops = 0;
  const route = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    requests.push({
      method: req.method ?? 'GET',
      url: url.pathname + url.search,
      ...(req.headers.range ? { range: req.headers.range } : {}),
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    });
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const api = parts[0] === 'api' && parts[1] === 'models';
    const cdn = parts[0] === 'cdn';
    const [org, name, verb, rev, ...rest] = api ? parts.slice(2) : cdn ? parts.slice(1) : parts;
    const repo = repos.get(`${org}/${name}`);
    if (!repo) return fail(res, 404, 'RepoNotFound', 'Repository not found');
    if (repo.token && req.headers.authorization !== `Bearer ${repo.token}`) {
      return fail(res, 401, 'RepoNotFound', 'Invalid credentials in Authorization header');
    }
    if (cdn) return serveBody(req, res, repo.revs, verb!, opts, () => drops++);
    const revision = repo.refs.get(rev ?? '') ?? repo.revs.find((v) => v.commit === rev);
    if (!revision) return fail(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
    const path = rest.join('/');
    if (api && verb === 'revision') return json(res, 200, modelInfo(`${org}/${name}`, revision));
    if (api && verb === 'tree') {
      const entries = [...revision.files.values()].filter((e) => !path || e.path.startsWith(`${path}/`));
      return json(res, 200, entries.map(treeEntry));
    }
    if (api && verb === 'paths-info') return pathsInfo(req, res, revision);
    if (!api && verb === 'resolve')
      return resolveFile(req, res, `${org}/${name}`, revision, path, opts, () => drops++);
    return fail(res, 404, 'EntryNotFound', `no route ${url.pathname}`);
  };
  const server = createServer((req, res) => {
    try {
      route(req, res);
    } catch (err) {
      fail(res, 500, 'Internal', String(err));
    }
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    commits,
    requests,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

function modelInfo(id: string, r: Revision) {
  const readme = r.files.get('README.md')?.data.toString('utf8') ?? '';
  const license = /^license:\s*(\S+)/m.exec(readme)?.[1];
  return {
    _id: createHash('sha1').update(id).digest('hex').slice(0, 24),
    id,
    modelId: id,
    sha: r.commit,
    private: false,
    gated: false,
    disabled: false,
    downloads: 0,
    likes: 0,
    lastModified: new Date(0).toISOString(),
    tags: license ? [`license:${license}`] : [],
    ...(license ? { cardData: { license } } : {}),
    siblings: [...r.files.keys()].map((rfilename) => ({ rfilename })),
  };
}

function pathsInfo(req: IncomingMessage, res: ServerResponse, r: Revision) {
  let body = '';
  req.on('data', (c) => {
    body += c;
  });
  req.on('end', () => {
    const { paths = [] } = JSON.parse(body || '{}') as { paths?: string[] };
    const out = paths.flatMap((p) => {
      const e = r.files.get(p);
      return e
        ? [
            {
              ...treeEntry(e),
              lastCommit: { id: r.commit, title: 'qlip local hub', date: new Date(0).toISOString() },
            },
          ]
        : [];
    });
    json(res, 200, out);
  });
}

function resolveFile(
  req: IncomingMessage,
  res: ServerResponse,
  repo: string,
  r: Revision,
  path: string,
  opts: LocalHubOptions,
  dropped: () => number,
) {
  const e = r.files.get(path);
  if (!e) return fail(res, 404, 'EntryNotFound', `${path} does not exist on "${r.commit}"`);
  const headers: Record<string, string> = {
    'X-Repo-Commit': r.commit,
    ETag: `"${e.lfs?.oid ?? e.oid}"`,
    'Accept-Ranges': 'bytes',
  };
  if (e.lfs) {
    // The hub answers LFS files with a redirect to its storage, the file's sha256 in X-Linked-Etag.
    res.writeHead(302, {
      ...headers,
      ETag: `"${e.oid}"`,
      'X-Linked-Etag': `"${e.lfs.oid}"`,
      'X-Linked-Size': String(e.lfs.size),
      Location: `/cdn/${repo}/${e.lfs.oid}`,
    });
    return res.end();
  }
  sendRange(req, res, e, headers, opts, dropped);
}

function serveBody(
  req: IncomingMessage,
  res: ServerResponse,
  revs: Revision[],
  sha: string,
  opts: LocalHubOptions,
  dropped: () => number,
) {
  const e = revs.flatMap((r) => [...r.files.values()]).find((x) => x.lfs?.oid === sha);
  if (!e) return fail(res, 404, 'EntryNotFound', `no blob ${sha}`);
  sendRange(req, res, e, { ETag: `"${sha}"`, 'Accept-Ranges': 'bytes' }, opts, dropped);
}

function sendRange(
  req: IncomingMessage,
  res: ServerResponse,
  e: Entry,
  headers: Record<string, string>,
  opts: LocalHubOptions,
  dropped: () => number,
) {
  const size = e.data.length;
  const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  const start = m ? Number(m[1]) : 0;
  const end = m?.[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
  if (m && start >= size) {
    res.writeHead(416, { 'Content-Range': `bytes */${size}` });
    return res.end();
  }
  const body = e.data.subarray(start, end + 1);
  res.writeHead(m ? 206 : 200, {
    ...headers,
    'Content-Type': 'application/octet-stream',
    'Content-Length': String(body.length),
    ...(m ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}),
  });
  if (req.method === 'HEAD') return res.end();
  const d = opts.drop;
  if (d && d.path === e.path && body.length > d.afterBytes && dropped() < (d.times ?? 1)) {
    // Send part of the body, then cut the connection as a flaky network does.
    res.write(body.subarray(0, d.afterBytes), () => setTimeout(() => res.socket?.destroy(), 20));
    return;
  }
  res.end(body);
}
