import type { AlphaMode, DecodedImageInfo } from '@qlip/core';

/** How far past the model's input size an image may be before it is worth a warning. */
export const DOWNSCALE_WARN_FACTOR = 4;

/** `--background`: composite transparent pixels on white or black; unset keeps training's rule. */
export type Background = 'white' | 'black';

/** The alpha rule for a background choice: training's (PIL `convert('RGB')`: alpha dropped) when unset. */
export function alphaMode(background: Background | undefined): AlphaMode {
  return background ?? 'drop';
}

function alphaRule(alpha: AlphaMode, chosen: AlphaMode): string {
  if (alpha !== chosen) return `composited on ${alpha} by the data source (its own rule)`;
  return alpha === 'drop'
    ? "alpha dropped and the stored colour kept, as in training (PIL convert('RGB')); --background white|black composites instead"
    : `composited on ${alpha} (--background ${alpha})`;
}

/**
 * Watches the images a job decodes (through `withImageAudit` of @qlip/core) for what the model cannot see
 * well: inputs downscaled more than 4x to its input size, and transparency. The first case of each is
 * reported at once, the totals by {@link summary}.
 */
export class InputWarnings {
  private seen = 0;
  private downscaled = 0;
  private transparent = 0;
  private worst: { name: string; factor: number; w: number; h: number } | null = null;
  private appliedAlpha: AlphaMode | undefined;

  constructor(
    private readonly imageSize: number,
    private readonly alpha: AlphaMode,
    private readonly warn: (message: string) => void,
  ) {}

  /** An `ImageAudit`: pass it to `withImageAudit`. */
  readonly record = (info: DecodedImageInfo): void => {
    this.seen++;
    const factor = Math.min(info.width, info.height) / this.imageSize;
    if (factor > DOWNSCALE_WARN_FACTOR) {
      if (this.downscaled++ === 0) {
        this.warn(
          `warning: ${info.name} is ${info.width}x${info.height}, downscaled ${factor.toFixed(1)}x to the model's ` +
            `${this.imageSize}x${this.imageSize} input: fine detail is lost (this model works at ${this.imageSize} px)`,
        );
      }
      if (!this.worst || factor > this.worst.factor) {
        this.worst = { name: info.name, factor, w: info.width, h: info.height };
      }
    }
    if (info.transparent && this.transparent++ === 0) {
      this.appliedAlpha = info.alpha ?? this.alpha; // a source (the emoji set) may composite on its own
      this.warn(`warning: ${info.name} has transparent pixels: ${alphaRule(this.appliedAlpha, this.alpha)}`);
    }
  };

  /** Totals when a problem came up more than once (the first case was reported when seen). */
  summary(): string[] {
    const out: string[] = [];
    if (this.downscaled > 1 && this.worst) {
      out.push(
        `warning: ${this.downscaled} of ${this.seen} images decoded were downscaled more than ${DOWNSCALE_WARN_FACTOR}x to ` +
          `${this.imageSize} px (most: ${this.worst.name}, ${this.worst.w}x${this.worst.h}, ${this.worst.factor.toFixed(1)}x)`,
      );
    }
    if (this.transparent > 1) {
      out.push(
        `warning: ${this.transparent} of ${this.seen} images decoded had transparent pixels: ${alphaRule(this.appliedAlpha ?? this.alpha, this.alpha)}`,
      );
    }
    return out;
  }
}
