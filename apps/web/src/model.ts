/**
 * A `qlip export onnx` folder in the page: qlip-onnx.json plus the graphs, run with onnxruntime-web.
 * The folder is either served (a URL prefix) or picked by the user (File objects); nothing is uploaded.
 */
import * as ort from 'onnxruntime-web';

/** What the page needs of qlip-onnx.json (written by @qlip/export's `exportOnnx`). */
export interface OnnxManifest {
  format: 'qlip-onnx';
  version: 1;
  graphs: Partial<Record<'image_encoder' | 'decoder' | 'text_encoder', string>>;
  imageSize: number;
  channels: number;
  grid: [number, number];
  tokensPerImage: number;
  bits: number;
  groupSize: number;
  indexInput: string;
  contextLength: number;
  vocabSize: number;
  projectionDim: number;
  /** exp(logit_scale); absent in exports older than the web page (CLIP's 100 is used then). */
  logitScale?: number;
  io: {
    pixels: string;
    indices: string;
    groupIndices: string;
    imageEmbeds: string;
    inputIds: string;
    textEmbeds: string;
  };
}

export const MANIFEST = 'qlip-onnx.json';
const EXPORT_HINT =
  'this model folder has no ONNX export: run "qlip export onnx --model <folder> --out <folder>/onnx" ' +
  'and open that folder, or start the page with "qlip serve --model <folder>", which exports it';

/** Where the files of one export come from. */
export interface ModelFiles {
  /** Shown to the user and in errors. */
  label: string;
  /** The file's bytes, or null when it does not exist. */
  read(name: string): Promise<Uint8Array | null>;
}

/** Files under a URL prefix (`qlip serve`, or a static host); `listed`, when known, are the only ones there. */
export function urlFiles(base: string, listed?: readonly string[]): ModelFiles {
  const prefix = base.endsWith('/') ? base : `${base}/`;
  return {
    label: prefix,
    async read(name) {
      if (listed && !listed.includes(name)) return null;
      const res = await fetch(prefix + name);
      if (res.status === 404) return null;
      if (!res.ok) throw new Error(`${prefix}${name}: HTTP ${res.status} ${res.statusText}`);
      return new Uint8Array(await res.arrayBuffer());
    },
  };
}

/** Files the user picked (a folder, or several files); matched by base name. */
export function pickedFiles(files: readonly File[]): ModelFiles {
  const byName = new Map(files.map((f) => [f.name, f]));
  const folder = `${files[0]?.webkitRelativePath.split('/')[0] || 'the picked files'}/`;
  return {
    label: folder,
    async read(name) {
      const f = byName.get(name);
      return f ? new Uint8Array(await f.arrayBuffer()) : null;
    },
  };
}

/** The execution provider the page runs on, and how it was chosen. */
export interface Provider {
  name: 'webgpu' | 'wasm';
  detail: string;
}

/**
 * WebGPU when the browser has an adapter (unless `forced` says otherwise), else WebAssembly with SIMD,
 * multi-threaded when the page is cross-origin isolated (SharedArrayBuffer available).
 */
export async function chooseProvider(forced: string | null): Promise<Provider> {
  const threads = globalThis.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  ort.env.wasm.numThreads = threads;
  // The runtime's glue and .wasm are plain files next to the page (see vite.config.ts).
  ort.env.wasm.wasmPaths = new URL('ort/', document.baseURI).href;
  ort.env.wasm.simd = true;
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (forced !== 'wasm' && gpu) {
    const adapter = await gpu.requestAdapter().catch(() => null);
    if (adapter) return { name: 'webgpu', detail: 'WebGPU' };
  }
  if (forced === 'webgpu')
    throw new Error('WebGPU was requested (?ep=webgpu) but this browser offers no WebGPU adapter');
  const iso = globalThis.crossOriginIsolated ? 'cross-origin isolated' : 'not cross-origin isolated';
  return {
    name: 'wasm',
    detail: `WebAssembly SIMD, ${threads} thread${threads > 1 ? 's' : ''} (${iso})`,
  };
}

type GraphName = keyof OnnxManifest['graphs'];

/** One loaded export: lazily created sessions and typed runs. */
export class WebQlip {
  private readonly sessions = new Map<GraphName, Promise<ort.InferenceSession>>();

  private constructor(
    readonly files: ModelFiles,
    readonly manifest: OnnxManifest,
    readonly provider: Provider,
  ) {}

  static async open(files: ModelFiles, provider: Provider): Promise<WebQlip> {
    const raw = await files.read(MANIFEST);
    if (!raw) throw new Error(`${files.label}: no ${MANIFEST} found; ${EXPORT_HINT}`);
    let m: OnnxManifest;
    try {
      m = JSON.parse(new TextDecoder().decode(raw)) as OnnxManifest;
    } catch (err) {
      throw new Error(`${files.label}${MANIFEST}: not valid JSON (${(err as Error).message})`);
    }
    if (m?.format !== 'qlip-onnx' || m.version !== 1)
      throw new Error(`${files.label}${MANIFEST}: not a qlip ONNX manifest of version 1`);
    if (!m.graphs.image_encoder)
      throw new Error(`${files.label}${MANIFEST}: the export has no image encoder`);
    return new WebQlip(files, m, provider);
  }

  get imageSize(): number {
    return this.manifest.imageSize;
  }

  has(graph: GraphName): boolean {
    return Boolean(this.manifest.graphs[graph]);
  }

  private session(graph: GraphName): Promise<ort.InferenceSession> {
    let s = this.sessions.get(graph);
    if (!s) {
      s = this.createSession(graph);
      this.sessions.set(graph, s);
      s.catch(() => this.sessions.delete(graph));
    }
    return s;
  }

  private async createSession(graph: GraphName): Promise<ort.InferenceSession> {
    const file = this.manifest.graphs[graph];
    if (!file) throw new Error(`${this.files.label}: this export has no ${graph} graph`);
    const bytes = await this.files.read(file);
    if (!bytes) throw new Error(`${this.files.label}${file} is missing (listed in ${MANIFEST})`);
    // Large exports keep their weights beside the graph (`<file>.data`, see `qlip export onnx`).
    const data = await this.files.read(`${file}.data`);
    const options: ort.InferenceSession.SessionOptions = {
      executionProviders: [this.provider.name],
      graphOptimizationLevel: 'all',
      ...(data ? { externalData: [{ path: `${file}.data`, data }] } : {}),
    };
    return ort.InferenceSession.create(bytes, options);
  }

  /** Load every graph now (so the first click is not slowed by compilation). */
  async warm(): Promise<void> {
    await Promise.all((Object.keys(this.manifest.graphs) as GraphName[]).map((g) => this.session(g)));
  }

  /** pixels `[B, 3, S, S]` CLIP-normalised -> indices `[B, N]` (or group indices `[B, N, G]`) + embeddings `[B, P]`. */
  async encode(
    pixels: Float32Array,
    batch: number,
  ): Promise<{ indices: Uint32Array; groups: number; embeds: Float32Array }> {
    const { io, channels: c, imageSize: s } = this.manifest;
    const out = await (await this.session('image_encoder')).run({
      [io.pixels]: new ort.Tensor('float32', pixels, [batch, c, s, s]),
    });
    const flat = this.manifest.indexInput === io.indices;
    const t = out[flat ? io.indices : io.groupIndices]!;
    const groups = flat ? 1 : t.dims[2]!;
    const idx = t.data as BigInt64Array;
    const indices = new Uint32Array(idx.length);
    for (let i = 0; i < idx.length; i++) indices[i] = Number(idx[i]);
    return { indices, groups, embeds: out[io.imageEmbeds]!.data as Float32Array };
  }

  /** indices as `encode` returns them -> pixels `[B, 3, S, S]` (CLIP-normalised, unclamped). */
  async decode(indices: Uint32Array, batch: number, groups: number): Promise<Float32Array> {
    const m = this.manifest;
    const data = BigInt64Array.from(indices, (v) => BigInt(v));
    const dims = groups === 1 ? [batch, m.tokensPerImage] : [batch, m.tokensPerImage, groups];
    const out = await (await this.session('decoder')).run({
      [m.indexInput]: new ort.Tensor('int64', data, dims),
    });
    return out[m.io.pixels]!.data as Float32Array;
  }

  /** token ids `[P, contextLength]` -> L2-normalised text embeddings `[P, projectionDim]`. */
  async textEmbeddings(ids: Int32Array): Promise<Float32Array> {
    const m = this.manifest;
    const data = BigInt64Array.from(ids, (v) => BigInt(v));
    const out = await (await this.session('text_encoder')).run({
      [m.io.inputIds]: new ort.Tensor('int64', data, [ids.length / m.contextLength, m.contextLength]),
    });
    return out[m.io.textEmbeds]!.data as Float32Array;
  }

  async release(): Promise<void> {
    for (const s of this.sessions.values()) await (await s.catch(() => null))?.release();
    this.sessions.clear();
  }
}
