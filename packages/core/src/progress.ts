/**
 * Progress events: libraries emit them, the CLI draws them (bar on a TTY, plain lines otherwise).
 * Libraries never print.
 */
export interface ProgressEvent {
  /** Short name of the running task, e.g. "tokenize", "train". */
  task: string;
  /** Units completed so far. */
  done: number;
  /** Total units, when known. */
  total?: number;
  /** What a unit is ("images", "steps"). */
  unit?: string;
  /** Numbers worth showing next to the bar (losses, lr, images/s). */
  metrics?: Record<string, number | string>;
  /** A one-off note (skipped file, checkpoint written). */
  message?: string;
}

export type ProgressListener = (event: ProgressEvent) => void;

/** A listener that ignores everything (the default when a caller passes none). */
export const silentProgress: ProgressListener = () => {};
