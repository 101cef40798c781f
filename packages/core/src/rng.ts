/**
 * Seeded pseudo-random numbers (mulberry32 for uniforms, Box-Muller for normals).
 * Everything random in qlip (init, shuffling, augmentation) draws from one of these so runs repeat.
 * The state is a single uint32 so it can be saved in a checkpoint and restored exactly.
 */
export class Rng {
  private s: number;
  private spare: number | undefined;

  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  /** Current state, for checkpoints. */
  get state(): { s: number; spare: number | null } {
    return { s: this.s, spare: this.spare ?? null };
  }

  static fromState(state: { s: number; spare: number | null }): Rng {
    const r = new Rng(0);
    r.s = state.s >>> 0;
    r.spare = state.spare ?? undefined;
    return r;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal. */
  normal(): number {
    if (this.spare !== undefined) {
      const v = this.spare;
      this.spare = undefined;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Normal truncated to [-2 std, 2 std] by redrawing (timm's trunc_normal_ convention). */
  truncNormal(std: number): number {
    for (;;) {
      const v = this.normal();
      if (v >= -2 && v <= 2) return v * std;
    }
  }

  /** In-place Fisher-Yates shuffle. */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  }

  /** Derive an independent generator (for a worker, a layer, an augmentation stream). */
  fork(salt: number): Rng {
    return new Rng((this.s ^ Math.imul(salt + 1, 0x9e3779b9)) >>> 0);
  }
}
