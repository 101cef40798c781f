/**
 * Counting what a command skipped, by reason, so nothing is dropped silently: every command that skips
 * input reports the counts at the end (and in `--json`) with the first few listed.
 */
export interface SkippedInput {
  /** The input (a path relative to the input folder, a tar member, a shard). */
  path: string;
  /** A short camelCase reason (`undecodable`, `tooLarge`, `danglingSymlink`, `truncatedTar`...). */
  reason: string;
  /** The full message. */
  detail: string;
}

export interface SkipSummary {
  total: number;
  byReason: Record<string, number>;
  /** The first few skipped inputs, in the order they were met. */
  first: SkippedInput[];
}

/** Collects skipped inputs: counts every one by reason and keeps the first `keep` in full. */
export class SkipTally {
  private readonly counts = new Map<string, number>();
  private readonly kept: SkippedInput[] = [];
  private n = 0;

  constructor(private readonly keep = 5) {}

  add(s: SkippedInput): void {
    this.n++;
    this.counts.set(s.reason, (this.counts.get(s.reason) ?? 0) + 1);
    if (this.kept.length < this.keep) this.kept.push(s);
  }

  get total(): number {
    return this.n;
  }

  summary(): SkipSummary {
    return { total: this.n, byReason: Object.fromEntries(this.counts), first: [...this.kept] };
  }
}

/** One line for humans: `skipped 3 inputs: 2 undecodable, 1 tooLarge`. */
export function describeSkips(s: SkipSummary): string {
  const parts = Object.entries(s.byReason).map(([r, c]) => `${c} ${r}`);
  return `skipped ${s.total} input${s.total === 1 ? '' : 's'}: ${parts.join(', ')}`;
}
