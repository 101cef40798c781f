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
}

/**
 * Learning rate at optimizer step `step` (0-based): linear warm-up to the peak, then cosine decay
 * to `minLr` at `totalSteps` (held after it), or constant after warm-up.
 */
export function learningRate(s: LrSchedule, step: number): number {
  if (s.warmupSteps > 0 && step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  if (s.kind === 'constant') return s.lr;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = Math.min(1, (step - s.warmupSteps) / span);
  return s.minLr + 0.5 * (s.lr - s.minLr) * (1 + Math.cos(Math.PI * progress));
}
