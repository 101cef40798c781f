import type { ProgressEvent, ProgressListener } from '@qlip/core';
import cliProgress from 'cli-progress';

export interface ProgressRenderer {
  listener: ProgressListener;
  /** Finish any bar in progress (call in `finally`). */
  stop(): void;
}

/** True when stderr is an interactive terminal and we are not under CI. */
export function interactive(): boolean {
  return Boolean(process.stderr.isTTY) && !process.env.CI;
}

function formatMetrics(m: ProgressEvent['metrics']): string {
  if (!m) return '';
  return Object.entries(m)
    .map(([k, v]) => `${k}=${k === 'eta' && typeof v === 'number' ? formatDuration(v) : formatValue(v)}`)
    .join(' ');
}

function formatValue(v: number | string): string {
  return typeof v === 'number' ? formatNumber(v) : v;
}

/** Seconds as `4m05s` or `1h02m` (libraries report raw seconds, e.g. a training run's `eta`). */
function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  return s >= 3600
    ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
    : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

function formatNumber(v: number): string {
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : v.toFixed(4);
}

/**
 * Draws library progress events on stderr: a bar on a TTY, otherwise plain lines (at most one per
 * 10% of the total or per 5 s, plus every message and the final event), so logs stay readable in CI.
 */
export function createProgressRenderer(): ProgressRenderer {
  if (interactive()) return barRenderer();
  let lastAt = 0;
  let lastFrac = -1;
  return {
    listener(e) {
      // A message is a note, not a progress tick: print it alone.
      if (e.message) {
        process.stderr.write(`[${e.task}] ${e.message}\n`);
        return;
      }
      const frac = e.total ? e.done / e.total : 0;
      const now = Date.now();
      const final = e.total !== undefined && e.done >= e.total;
      if (!final && now - lastAt < 5000 && frac - lastFrac < 0.1) return;
      lastAt = now;
      lastFrac = frac;
      const of = e.total !== undefined ? `/${e.total}` : '';
      process.stderr.write(
        `[${e.task}] ${e.done}${of} ${e.unit ?? ''} ${formatMetrics(e.metrics)}\n`.replace(/ +\n$/, '\n'),
      );
    },
    stop() {},
  };
}

function barRenderer(): ProgressRenderer {
  let bar: cliProgress.SingleBar | undefined;
  let task = '';
  const stop = () => {
    bar?.stop();
    bar = undefined;
  };
  return {
    listener(e) {
      if (e.message) {
        if (bar) process.stderr.write('\n');
        process.stderr.write(`[${e.task}] ${e.message}\n`);
      }
      if (e.total === undefined) return;
      if (!bar || task !== e.task) {
        stop();
        task = e.task;
        bar = new cliProgress.SingleBar(
          {
            stream: process.stderr,
            format: `${e.task} [{bar}] {value}/{total} ${e.unit ?? ''} | {eta_formatted} left | {metrics}`,
            hideCursor: true,
            etaBuffer: 50,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(e.total, e.done, { metrics: '' });
      }
      bar.update(e.done, { metrics: formatMetrics(e.metrics) });
      if (e.done >= e.total) stop();
    },
    stop,
  };
}
