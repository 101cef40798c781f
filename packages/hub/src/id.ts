/** A Hugging Face model repository and an optional revision (branch, tag or commit hash). */
export interface HubId {
  /** `org/name` */
  repo: string;
  revision?: string;
}

// Hub repo names: letters, digits, `-`, `_`, `.`; the owner likewise. A revision is anything after `@`.
const HUB_ID = /^([A-Za-z0-9][\w.-]{0,95})\/([A-Za-z0-9][\w.-]{0,95})(?:@([^\s@]+))?$/;

/**
 * `org/name` or `org/name@revision` -> its parts; null for anything else (a path like `./x`, `a/b/c`, `/abs`).
 * A string that is also an existing local path is the caller's call: local directories win.
 */
export function parseHubId(spec: string): HubId | null {
  const m = HUB_ID.exec(spec);
  if (!m || m[1]!.includes('..') || m[2]!.includes('..')) return null;
  return { repo: `${m[1]}/${m[2]}`, ...(m[3] ? { revision: m[3] } : {}) };
}

/** A 40-hex-digit commit hash (a revision that can never move). */
export function isCommitHash(revision: string): boolean {
  return /^[0-9a-f]{40}$/.test(revision);
}
