/** Learning-rate schedule settings. */
export interface LrSchedule {
  /** Peak learning rate. */
  lr: number;
  /** Linear warm-up steps from 0 to `lr`. */
  warmupSteps: number;
  /** Total optimizer steps (cosine reaches `minLr` here). */
  totalSteps: number;
  /** Floor of the cosine decay. */
  minLr: number;
  kind: 'cosine' | 'constant';
  /**
   * A run extended past its original end (`--extend`): from `step` on, a cosine from `lr` (the rate the
   * schedule had reached there) down to `minLr` at `totalSteps`, so the rate never jumps back up.
   */
  tail?: LrTail | null;
}

/** Where an extended run's cosine tail starts: 0-based step and the learning rate it continues from. */
export interface LrTail {
  step: number;
  lr: number;
}

/**
 * Learning rate at optimizer step `step` (0-based): linear warm-up to the peak, then cosine decay
 * to `minLr` at `totalSteps` (held after it), or constant after warm-up.
 */
export function learningRate(s: LrSchedule, step: number): number {
  if (s.warmupSteps > 0 && step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  if (s.kind === 'constant') return s.lr;
  if (s.tail && step >= s.tail.step)
    return cosine(s.tail.lr, s.minLr, step - s.tail.step, s.totalSteps - s.tail.step);
  return cosine(s.lr, s.minLr, step - s.warmupSteps, s.totalSteps - s.warmupSteps);
}

/** Cosine from `from` (at 0) to `to` (at `span`, held after it). */
function cosine(from: number, to: number, at: number, span: number): number {
  const progress = Math.min(1, at / Math.max(1, span));
  return to + 0.5 * (from - to) * (1 + Math.cos(Math.PI * progress));
}

/**
 * What resuming with a config whose schedule ends elsewhere does to the learning rate. `old` is the
 * checkpoint's schedule, `next` the new one, `step` the steps completed. Unless `extend`, a change that
 * moves the rate of any step still to run is refused (it would silently restart the cosine); with
 * `extend`, the cosine tail is rebuilt from the current step and rate. Returns the tail to use and a note.
 */
export function resumeSchedule(
  old: LrSchedule,
  next: LrSchedule,
  step: number,
  extend: boolean,
): { tail: LrTail | null; note?: string } {
  const unchanged = old.totalSteps === next.totalSteps || next.kind === 'constant';
  if (unchanged) return { tail: old.tail ?? null };
  const current = learningRate(old, step);
  if (!extend) {
    throw new Error(
      `the checkpoint's learning-rate schedule ends at step ${old.totalSteps} but this run's ends at ${next.totalSteps}: ` +
        `resuming would move the rate at step ${step + 1} from ${current.toPrecision(3)} to ${learningRate(next, step).toPrecision(3)}. ` +
        `Pass --extend to continue the cosine from the current rate down to ${next.minLr} at step ${next.totalSteps}, ` +
        `or keep --steps ${old.totalSteps}`,
    );
  }
  if (step < next.warmupSteps) {
    return { tail: null, note: `--extend: still warming up; the cosine now ends at step ${next.totalSteps}` };
  }
  const floor =
    current <= next.minLr
      ? ` (the schedule had already reached its floor: the added steps train at ${next.minLr}; to restart the schedule, start a new run with --init)`
      : '';
  return {
    tail: { step, lr: current },
    note: `--extend: the learning rate continues from ${current.toPrecision(3)} at step ${step} along a cosine down to ${next.minLr} at step ${next.totalSteps}${floor}`,
  };
}
