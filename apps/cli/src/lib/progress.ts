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

/** The metrics of an event as `k=v` pairs, without `eta` (shown once, by the renderer). */
function formatMetrics(m: ProgressEvent['metrics']): string {
  if (!m) return '';
  return Object.entries(m)
    .filter(([k]) => k !== 'eta')
    .map(([k, v]) => `${k}=${formatValue(v)}`)
    .join(' ');
}

function formatValue(v: number | string): string {
  return typeof v === 'number' ? formatNumber(v) : v;
}

/** Seconds as `4m05s` or `1h02m`; `--` while unknown. */
export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  return s >= 3600
    ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
    : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/**
 * One time-left estimate per task. A library that measures its own work (the trainer averages its recent
 * step times) sends `metrics.eta` in seconds, and that is the one shown; otherwise it is the task's
 * average rate since its first event. Unknown (`--`) until there is a rate: a bar library's own guess at
 * the first tick is `NaN`/`Infinity` (the old `NFs left`), and two estimates side by side disagreed.
 */
export function etaEstimator(now: () => number = Date.now): (e: ProgressEvent) => number | undefined {
  let first: { task: string; at: number; done: number } | undefined;
  return (e) => {
    if (!first || first.task !== e.task) first = { task: e.task, at: now(), done: e.done };
    const given = e.metrics?.eta;
    if (typeof given === 'number') return Number.isFinite(given) ? given : undefined;
    if (e.total === undefined || e.done <= first.done) return undefined;
    return ((now() - first.at) / 1000 / (e.done - first.done)) * (e.total - e.done);
  };
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
export function createProgressRenderer(
  write: (text: string) => void = (t) => process.stderr.write(t),
): ProgressRenderer {
  if (interactive()) return barRenderer();
  const eta = etaEstimator();
  let lastAt = 0;
  let lastFrac = -1;
  return {
    listener(e) {
      // A message is a note, not a progress tick: print it alone.
      if (e.message) {
        write(`[${e.task}] ${e.message}\n`);
        return;
      }
      const left = eta(e);
      const frac = e.total ? e.done / e.total : 0;
      const now = Date.now();
      const final = e.total !== undefined && e.done >= e.total;
      if (!final && now - lastAt < 5000 && frac - lastFrac < 0.1) return;
      lastAt = now;
      lastFrac = frac;
      const of = e.total !== undefined ? `/${e.total}` : '';
      const until = left === undefined || final ? '' : ` eta=${formatDuration(left)}`;
      write(
        `[${e.task}] ${e.done}${of} ${e.unit ?? ''} ${formatMetrics(e.metrics)}${until}\n`.replace(
          / +\n$/,
          '\n',
        ),
      );
    },
    stop() {},
  };
}

function barRenderer(): ProgressRenderer {
  const eta = etaEstimator();
  let bar: cliProgress.SingleBar | undefined;
  let task = '';
  const stop = () => {
    bar?.stop();
    bar = undefined;
  };
  return {
    listener(e) {
      // A message is a note, not a tick: it must not redraw (or after the end, restart) a bar.
      if (e.message) {
        if (bar) process.stderr.write('\n');
        process.stderr.write(`[${e.task}] ${e.message}\n`);
        return;
      }
      if (e.total === undefined) return;
      if (!bar || task !== e.task) {
        stop();
        task = e.task;
        bar = new cliProgress.SingleBar(
          {
            stream: process.stderr,
            // {left} is ours (see etaEstimator), not cli-progress's {eta_formatted}.
            format: `${e.task} [{bar}] {value}/{total} ${e.unit ?? ''} | {left} left | {metrics}`,
            hideCursor: true,
            etaBuffer: 50,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(e.total, e.done, { metrics: '', left: '--' });
      }
      bar.update(e.done, { metrics: formatMetrics(e.metrics), left: formatDuration(eta(e)) });
      if (e.done >= e.total) stop();
    },
    stop,
  };
}
