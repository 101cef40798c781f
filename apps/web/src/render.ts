/** DOM rendering of the panels: token grid, zero-shot bars, thumbnails. */
import type { ZeroShotScore } from './zeroshot.js';

export function el<T extends HTMLElement = HTMLElement>(testid: string): T {
  const e = document.querySelector<T>(`[data-testid="${testid}"]`);
  if (!e) throw new Error(`page is missing [data-testid=${testid}]`);
  return e;
}

/** The bits of a token, MSB first (channel 0 is the most significant bit, as qlip packs them). */
function bitString(index: number, bits: number): string {
  return index.toString(2).padStart(bits, '0');
}

/** A colour per token: nearby indices (sharing high bits) get nearby hues. */
function cellColour(index: number, bits: number): string {
  const top = bits >= 8 ? index / 2 ** (bits - 8) : index * 2 ** (8 - bits); // 0..255
  const low = bits > 8 ? index % 2 ** Math.min(bits - 8, 8) : 0;
  return `hsl(${Math.floor((top / 256) * 360)} 65% ${35 + (low % 32)}%)`;
}

/**
 * One image's tokens as a `[rows][cols]` grid of cells; hovering a cell names its position, index and bits.
 * `tokens` holds one index per token (`groups` = 1) or `groups` group indices per token.
 */
export function renderGrid(
  tokens: Uint32Array,
  grid: [number, number],
  bits: number,
  groups: number,
): number[][] | number[][][] {
  const [rows, cols] = grid;
  const box = el('token-grid');
  const hover = el('token-hover');
  box.replaceChildren();
  box.style.gridTemplateColumns = `repeat(${cols}, 1fr)`;
  box.style.fontSize = cols > 8 ? '0' : '';
  const width = groups === 1 ? bits : bits / groups;
  const out: (number | number[])[][] = [];
  for (let r = 0; r < rows; r++) {
    const row: (number | number[])[] = [];
    for (let c = 0; c < cols; c++) {
      const t = r * cols + c;
      const values = Array.from(tokens.subarray(t * groups, (t + 1) * groups));
      row.push(groups === 1 ? values[0]! : values);
      const cell = document.createElement('div');
      cell.style.background = cellColour(values[0]!, width);
      cell.textContent = groups === 1 ? String(values[0]) : values.join('·');
      const info = `row ${r}, col ${c}: index ${values.join(' | ')} = bits ${values.map((v) => bitString(v, width)).join(' ')}`;
      cell.title = info;
      cell.addEventListener('mouseenter', () => {
        hover.textContent = info;
      });
      box.append(cell);
    }
    out.push(row);
  }
  return out as number[][] | number[][][];
}

/** Probabilities as bars, highest first; each item carries its label and probability as data attributes. */
export function renderBars(scores: ZeroShotScore[]): void {
  const list = el('zero-shot');
  list.replaceChildren(
    ...scores.map((s) => {
      const li = document.createElement('li');
      li.dataset.label = s.label;
      li.dataset.probability = String(s.probability);
      li.dataset.cosine = String(s.cosine);
      const name = document.createElement('span');
      name.textContent = s.label;
      const track = document.createElement('span');
      track.className = 'track';
      const fill = document.createElement('span');
      fill.className = 'fill';
      fill.style.display = 'block';
      fill.style.width = `${(s.probability * 100).toFixed(1)}%`;
      track.append(fill);
      const pct = document.createElement('span');
      pct.textContent = `${(s.probability * 100).toFixed(1)} %`;
      li.append(name, track, pct);
      return li;
    }),
  );
}

/** Thumbnails of a multi-image selection; clicking one shows it in the panels. */
export function renderThumbs(
  items: { name: string; url: string }[],
  selected: number,
  pick: (i: number) => void,
): void {
  const list = el('thumbs');
  if (items.length < 2) {
    list.replaceChildren();
    return;
  }
  list.replaceChildren(
    ...items.map((it, i) => {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.title = it.name;
      b.setAttribute('aria-pressed', String(i === selected));
      const img = document.createElement('img');
      img.src = it.url;
      img.alt = it.name;
      img.className = 'pixelated';
      b.append(img);
      b.addEventListener('click', () => pick(i));
      li.append(b);
      return li;
    }),
  );
}
