/**
 * The qlip page: pick a model (served, or a local ONNX export folder), drop images, see their tokens, the
 * reconstruction and zero-shot scores. Everything runs here with onnxruntime-web.
 */
import {
  clipPreprocessParams,
  denormalizeImages,
  type ImagePreprocessParams,
  normalizeImage,
  npyBytes,
  type RgbImage,
  resizeAndCrop,
} from '@qlip/core/browser';
import { decodeImageFile, rgbToDataUrl } from './image.js';
import { chooseProvider, type ModelFiles, type Provider, pickedFiles, urlFiles, WebQlip } from './model.js';
import { el, renderBars, renderGrid, renderThumbs } from './render.js';
import { WebUnified } from './unified.js';
import { zeroShot } from './zeroshot.js';

/** One entry of the site's models.json (written by the build and by `qlip serve`). */
interface ModelEntry {
  name: string;
  path: string;
  files?: string[];
  zeroShot?: { labels: string[]; templates: string[] };
  /** `unified`: a unified model (caption and generate panels), else a tokenizer. */
  kind?: 'unified';
}

/** One tokenized image. */
interface Result {
  name: string;
  crop: RgbImage; // [S, S, 3] what the model saw
  indices: Uint32Array; // [N * groups]
  embed: Float32Array; // [P]
  url: string;
}

const DEFAULT_ZERO_SHOT = {
  labels: ['cat', 'dog', 'car', 'airplane', 'bird', 'flower'],
  templates: ['a photo of a {}.'],
};
const BATCH = 16;

const params = new URLSearchParams(location.search);
const state: {
  provider: Provider | null;
  model: WebQlip | null;
  unified: WebUnified | null;
  results: Result[];
  selected: number;
} = {
  provider: null,
  model: null,
  unified: null,
  results: [],
  selected: 0,
};

function setStatus(text: string, error = false): void {
  const s = el('status');
  s.textContent = text;
  s.classList.toggle('error', error);
}

/** Runs page actions one at a time; each shows busy, then ready or its error. */
let queue: Promise<void> = Promise.resolve();
function run(what: string, action: () => Promise<void>): Promise<void> {
  queue = queue.then(async () => {
    setStatus(`busy: ${what}`);
    try {
      await action();
      setStatus('ready');
    } catch (err) {
      console.error(err);
      setStatus(`error: ${(err as Error).message || String(err)}`, true);
    }
  });
  return queue;
}

function requireModel(): WebQlip {
  if (!state.model) throw new Error('no model is loaded: pick one above or open an ONNX export folder');
  return state.model;
}

async function loadModel(files: ModelFiles, entry?: ModelEntry): Promise<void> {
  state.provider ??= await chooseProvider(params.get('ep'));
  el('provider').textContent = state.provider.detail;
  await state.model?.release();
  state.model = null;
  el('model-info').textContent = '';
  const model = await WebQlip.open(files, state.provider);
  await model.warm();
  state.model = model;
  const m = model.manifest;
  el('model-info').textContent =
    `${files.label}: ${m.imageSize} px, ${m.grid[0]}x${m.grid[1]} tokens of ${m.bits} bits` +
    (model.has('text_encoder') ? '' : ' (no text encoder: zero-shot off)');
  const zs = entry?.zeroShot ?? DEFAULT_ZERO_SHOT;
  el<HTMLTextAreaElement>('labels').value = zs.labels.join('\n');
  el<HTMLTextAreaElement>('templates').value = zs.templates.join('\n');
  state.results = [];
  if (pendingFiles.length) await tokenizeFiles(pendingFiles);
}

let pendingFiles: File[] = [];

/** Decode and preprocess exactly as the CLI does (PIL-exact bicubic shortest edge, centre crop, CLIP norm). */
async function preprocess(files: File[], p: ImagePreprocessParams, errors: string[]) {
  const ok: { name: string; crop: RgbImage }[] = [];
  for (const f of files) {
    try {
      ok.push({ name: f.name, crop: resizeAndCrop(await decodeImageFile(f), p) });
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  return ok;
}

async function tokenizeFiles(files: File[]): Promise<void> {
  const model = requireModel();
  const s = model.imageSize;
  const p = clipPreprocessParams(s);
  const errors: string[] = [];
  const results: Result[] = [];
  const t0 = performance.now();
  for (let start = 0; start < files.length; start += BATCH) {
    setStatus(`busy: tokenizing ${start}/${files.length} images`);
    const ok = await preprocess(files.slice(start, start + BATCH), p, errors);
    if (ok.length === 0) continue;
    const pixels = new Float32Array(ok.length * 3 * s * s); // [B, 3, S, S]
    for (const [i, o] of ok.entries()) normalizeImage(o.crop, p, pixels, i * 3 * s * s);
    const { indices, groups, embeds } = await model.encode(pixels, ok.length);
    const per = model.manifest.tokensPerImage * groups;
    const dim = model.manifest.projectionDim;
    for (const [i, o] of ok.entries()) {
      results.push({
        ...o,
        indices: indices.slice(i * per, (i + 1) * per),
        embed: embeds.slice(i * dim, (i + 1) * dim),
        url: rgbToDataUrl(o.crop),
      });
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  state.results = results;
  state.selected = 0;
  if (results.length === 0) throw new Error(errors.join('; ') || 'no images given');
  const speed = el('speed');
  speed.dataset.imagesPerSecond = String(results.length / seconds);
  speed.textContent =
    `${results.length} image${results.length > 1 ? 's' : ''} tokenized in ` +
    `${seconds < 1 ? `${(seconds * 1000).toFixed(0)} ms` : `${seconds.toFixed(2)} s`} ` +
    `(${(results.length / seconds).toFixed(1)} images/s, decode + preprocess + encode, ${state.provider?.name})`;
  el<HTMLButtonElement>('download-npy').disabled = false;
  await show(0);
  if (errors.length)
    throw new Error(`${errors.length} of ${files.length} files skipped: ${errors.join('; ')}`);
}

/** Fill the panels for result `i`: grid, JSON, input crop, reconstruction, zero-shot. */
async function show(i: number): Promise<void> {
  const model = requireModel();
  const r = state.results[i]!;
  state.selected = i;
  renderThumbs(state.results, i, (j) => void run('showing', () => show(j)));
  const m = model.manifest;
  const groups = r.indices.length / m.tokensPerImage;
  el('tokens').textContent = JSON.stringify(renderGrid(r.indices, m.grid, m.bits, groups));
  el('token-info').textContent = `${r.name}: ${m.grid[0]}x${m.grid[1]} tokens, ${m.bits} bits each`;
  el<HTMLImageElement>('input-crop').src = r.url;
  el<HTMLImageElement>('original').src = r.url;
  if (model.has('decoder')) {
    const pixels = await model.decode(r.indices, 1, groups); // [1, 3, S, S]
    const [recon] = denormalizeImages(pixels, [1, 3, m.imageSize, m.imageSize]);
    el<HTMLImageElement>('reconstruction').src = rgbToDataUrl(recon!);
  }
  await classify();
  await caption();
}

/** The unified model, usable with the loaded tokenizer (same grid and bits), or an error saying why not. */
function requireUnified(): WebUnified {
  const u = state.unified;
  if (!u) throw new Error('no unified model is loaded: start the page with "qlip serve --unified <model>"');
  const why = u.mismatch(requireModel().manifest);
  if (why) throw new Error(why);
  return u;
}

/** Greedy caption of the shown image's tokens. */
async function caption(): Promise<void> {
  const r = state.results[state.selected];
  const out = el('caption');
  out.textContent = '';
  if (!r || !state.unified) return;
  if (r.indices.length !== state.unified.tokens) return; // group indices: not the unified model's tokenizer
  [out.textContent] = await requireUnified().caption(r.indices);
}

/** Sample images for the prompt (seeded as `qlip generate`), decode each with the tokenizer as it comes. */
async function generateImages(): Promise<void> {
  const model = requireModel();
  const u = requireUnified();
  const num = (id: string) => Number(el<HTMLInputElement>(id).value);
  const o = {
    guidance: num('guidance'),
    temperature: num('temperature'),
    topK: Math.max(0, Math.floor(num('top-k'))),
    seed: Math.max(0, Math.floor(num('seed'))),
    n: Math.max(1, Math.floor(num('count'))),
  };
  if (!(o.temperature > 0) || !Number.isFinite(o.guidance))
    throw new Error('guidance must be a number and temperature a number > 0');
  const prompt = el<HTMLInputElement>('prompt').value;
  const box = el('generated');
  box.replaceChildren();
  delete box.dataset.tokens;
  const s = model.imageSize;
  const [rows, cols] = u.config.image_grid;
  const g = await u.generate(prompt, o, async (codes, start) => {
    const b = codes.length / u.tokens;
    for (let i = 0; i < b; i++) {
      setStatus(`busy: decoding image ${start + i + 1}/${o.n}`);
      const px = await model.decode(codes.subarray(i * u.tokens, (i + 1) * u.tokens), 1, 1); // [1, 3, S, S]
      const img = document.createElement('img');
      img.src = rgbToDataUrl(denormalizeImages(px, [1, 3, s, s])[0]!);
      img.alt = `${prompt} (${start + i})`;
      box.append(img);
    }
  });
  // [n][rows][cols], as `qlip generate` writes sample-tokens.npy.
  const grids = Array.from({ length: o.n }, (_, i) =>
    Array.from({ length: rows }, (_, r) =>
      Array.from(g.codes.subarray(i * u.tokens + r * cols, i * u.tokens + (r + 1) * cols)),
    ),
  );
  box.dataset.tokens = JSON.stringify(grids);
  const rate = (o.n * u.tokens) / g.samplingSeconds;
  const speed = el('generate-speed');
  speed.dataset.tokensPerSecond = String(rate);
  speed.textContent =
    `${o.n} image${o.n > 1 ? 's' : ''}: ${rate.toFixed(0)} image tokens/s sampled (${state.provider?.name})` +
    (g.unknownTokens ? `; ${g.unknownTokens} prompt token(s) outside the vocabulary read as <unk>` : '');
}

async function loadUnified(entry: ModelEntry | undefined): Promise<void> {
  if (!entry || !state.provider) return;
  await state.unified?.release();
  state.unified = null;
  state.unified = await WebUnified.open(urlFiles(entry.path, entry.files), state.provider);
  const c = state.unified.config;
  el('unified-info').textContent =
    `${entry.name}: ${c.num_hidden_layers} layers, ${c.hidden_size} wide, ${c.clip_ids.length} words`;
}

async function classify(): Promise<void> {
  const model = requireModel();
  const r = state.results[state.selected];
  if (!r || !model.has('text_encoder')) return;
  const lines = (id: string) =>
    el<HTMLTextAreaElement>(id)
      .value.split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
  renderBars(await zeroShot(model, r.embed, lines('labels'), lines('templates')));
}

/** Every tokenized image's indices as one uint32 `[n, rows, cols]` .npy (the CLI's shard layout). */
function downloadNpy(): void {
  const m = requireModel().manifest;
  const n = state.results.length;
  const groups = state.results[0]!.indices.length / m.tokensPerImage;
  const data = new Uint32Array(n * m.tokensPerImage * groups);
  for (const [i, r] of state.results.entries()) data.set(r.indices, i * r.indices.length);
  const shape = groups === 1 ? [n, ...m.grid] : [n, ...m.grid, groups];
  const blob = new Blob([npyBytes({ dtype: 'uint32', shape, data }) as BlobPart], {
    type: 'application/octet-stream',
  });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = n === 1 ? `${state.results[0]!.name.replace(/\.[^.]*$/, '')}.tokens.npy` : 'tokens.npy';
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

async function readModelList(): Promise<ModelEntry[]> {
  const res = await fetch('models.json');
  if (!res.ok) return [];
  const list = (await res.json()) as { models?: ModelEntry[] };
  return list.models ?? [];
}

function pickModelFolder(): void {
  // A detached input, so the page's only input[type=file] stays the image picker.
  const input = document.createElement('input');
  input.type = 'file';
  input.multiple = true;
  input.webkitdirectory = true;
  input.addEventListener('change', () => {
    const files = [...(input.files ?? [])];
    if (files.length) void run('loading the picked model', () => loadModel(pickedFiles(files)));
  });
  input.click();
}

function wire(models: ModelEntry[]): void {
  const fileInput = document.querySelector<HTMLInputElement>('input[type=file]')!;
  const take = (files: File[]) => {
    pendingFiles = files;
    void run('tokenizing', () => tokenizeFiles(files));
  };
  fileInput.addEventListener('change', () => {
    const files = [...(fileInput.files ?? [])];
    // Cleared, so picking the same file(s) again is a change too (e.g. after switching models).
    fileInput.value = '';
    if (files.length) take(files);
  });
  const drop = document.getElementById('drop')!;
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    take([...(e.dataTransfer?.files ?? [])]);
  });
  el('download-npy').addEventListener('click', downloadNpy);
  el('classify').addEventListener('click', () => void run('classifying', classify));
  el('generate').addEventListener('click', () => void run('generating', generateImages));
  el('open-model').addEventListener('click', pickModelFolder);
  const select = el<HTMLSelectElement>('model-select');
  select.addEventListener('change', () => {
    const entry = models[Number(select.value)];
    if (entry) void run(`loading ${entry.name}`, () => loadModel(urlFiles(entry.path, entry.files), entry));
  });
}

async function start(): Promise<void> {
  const all = await readModelList();
  const models = all.filter((m) => m.kind !== 'unified');
  const unified = all.find((m) => m.kind === 'unified');
  wire(models);
  const select = el<HTMLSelectElement>('model-select');
  select.replaceChildren(...models.map((m, i) => new Option(m.name, String(i))));
  const wanted = params.get('model');
  if (wanted && !models.some((m) => m.name === wanted)) {
    // A URL path of an export folder (e.g. ?model=/my-export/).
    select.append(new Option(wanted, 'url', true, true));
    await run(`loading ${wanted}`, () => loadModel(urlFiles(wanted), { name: wanted, path: wanted }));
    return;
  }
  const index = Math.max(
    0,
    models.findIndex((m) => m.name === wanted),
  );
  const entry = models[index];
  if (!entry) {
    setStatus(
      'error: this site lists no models (models.json is missing or empty): open an ONNX export folder',
      true,
    );
    el('provider').textContent = (await chooseProvider(params.get('ep'))).detail;
    return;
  }
  select.value = String(index);
  // One action, so the status reads "ready" only once both models are loaded.
  await run(`loading ${entry.name}`, async () => {
    await loadModel(urlFiles(entry.path, entry.files), entry);
    await loadUnified(unified);
  });
}

void start().catch((err) => setStatus(`error: ${(err as Error).message}`, true));
