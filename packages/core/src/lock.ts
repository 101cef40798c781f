import { randomBytes } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { link, mkdir, open, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

/**
 * Exclusive lock on an output folder (a dataset, a run, an export), so two qlip processes never write one
 * folder at once. The lock is a small JSON file in the folder, created atomically and exclusively: the
 * holder's record is written to a private temp file first and then hard-linked to the lock name, which
 * fails if the name exists, so the lock file is never seen half-written.
 *
 * A lock whose holder ran on this host and whose pid is no longer alive (kill -9, power loss) is stale:
 * it is taken over, and the caller is told so. A lock held by a live process, or by another host (whose
 * pids we cannot check), is refused with an error that names the holder.
 */
export const OUTPUT_LOCK_FILE = '.qlip.lock';

/** Who holds an output lock: what the lock file records. */
export interface LockHolder {
  pid: number;
  hostname: string;
  command: string;
  /** ISO time the lock was taken. */
  since: string;
  /** Random id of this acquisition (so a release never removes a lock taken over by someone else). */
  token: string;
}

export interface OutputLock {
  /** The lock file's path. */
  readonly path: string;
  /** This acquisition's record. */
  readonly holder: LockHolder;
  /** The stale holder this acquisition replaced (its process had died), if any. */
  readonly takenOverFrom: LockHolder | undefined;
  /** Remove the lock file (only if it is still ours). Safe to call more than once. */
  release(): Promise<void>;
}

export interface AcquireOutputLockOptions {
  /** Told when a stale lock is taken over; default: a note on stderr. */
  onNote?: (message: string) => void;
}

/** Thrown when the folder is locked by another live process (or by another host). */
export class OutputLockedError extends Error {
  constructor(
    readonly lockPath: string,
    readonly holder: LockHolder | undefined,
    detail: string,
  ) {
    super(detail);
    this.name = 'OutputLockedError';
  }
}

const GUARD_SUFFIX = '.takeover';
/** A takeover guard older than this is itself stale (its owner died between two syscalls). */
const GUARD_STALE_MS = 10_000;
const MAX_ATTEMPTS = 200;

/** Describe a holder for messages: `pid 123 on host h ("qlip tokenize"), since <time> (<n> s ago)`. */
export function describeLockHolder(h: LockHolder): string {
  const ago = Math.max(0, Math.round((Date.now() - Date.parse(h.since)) / 1000));
  return `pid ${h.pid} on host ${h.hostname} ("${h.command}"), since ${h.since} (${ago} s ago)`;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockHolder>;
    if (typeof v.pid !== 'number' || typeof v.hostname !== 'string' || typeof v.token !== 'string')
      return undefined;
    return {
      pid: v.pid,
      hostname: v.hostname,
      command: String(v.command ?? '?'),
      since: String(v.since ?? '?'),
      token: v.token,
    };
  } catch {
    return undefined;
  }
}

async function readHolder(path: string): Promise<LockHolder | undefined | 'missing'> {
  try {
    return parseHolder(await readFile(path, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw err;
  }
}

function isStale(h: LockHolder): boolean {
  return h.hostname === hostname() && !pidAlive(h.pid);
}

function lockedError(dir: string, path: string, h: LockHolder | undefined): OutputLockedError {
  if (!h) {
    return new OutputLockedError(
      path,
      undefined,
      `${dir} is locked by ${path}, which cannot be read as a qlip lock. If no qlip process is writing ${dir}, delete ${path} and retry.`,
    );
  }
  const where =
    h.hostname === hostname()
      ? 'Wait for it to finish or stop it.'
      : `That host's processes cannot be checked from here; if that process is gone, delete ${path} and retry.`;
  return new OutputLockedError(
    path,
    h,
    `${dir} is in use by another qlip process: ${describeLockHolder(h)}. ${where}`,
  );
}

/** Replace a stale lock under a takeover guard so two processes never both take over the same stale lock. */
async function takeOver(path: string, tmp: string, stale: LockHolder): Promise<'ok' | 'retry'> {
  const guard = path + GUARD_SUFFIX;
  let g: Awaited<ReturnType<typeof open>>;
  try {
    g = await open(guard, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const age = await stat(guard).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    if (age > GUARD_STALE_MS) await unlink(guard).catch(() => {});
    return 'retry';
  }
  try {
    const now = await readHolder(path);
    if (now === 'missing' || now?.token !== stale.token) return 'retry';
    await unlink(path);
    await link(tmp, path); // may fail with EEXIST if a fresh acquirer slipped in: the caller retries
    return 'ok';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return 'retry';
    throw err;
  } finally {
    await g.close();
    await unlink(guard).catch(() => {});
  }
}

const held = new Map<string, string>(); // lock path -> our token, for the exit hook
let exitHookInstalled = false;

/** On any process exit (error, process.exit), remove the locks this process still holds. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const [path, token] of held) {
      try {
        if (parseHolder(readFileSync(path, 'utf8'))?.token === token) unlinkSync(path);
      } catch {
        // already gone
      }
    }
  });
}

/**
 * Take the exclusive lock on output folder `dir` (created if missing) for `command` (e.g. "qlip tokenize").
 * Throws `OutputLockedError` naming the holder when another live process holds it; takes over (and says so
 * through `onNote`) a lock left by a dead process on this host.
 */
export async function acquireOutputLock(
  dir: string,
  command: string,
  opts: AcquireOutputLockOptions = {},
): Promise<OutputLock> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, OUTPUT_LOCK_FILE);
  const holder: LockHolder = {
    pid: process.pid,
    hostname: hostname(),
    command,
    since: new Date().toISOString(),
    token: randomBytes(8).toString('hex'),
  };
  const tmp = `${path}.${holder.token}.tmp`;
  await writeFile(tmp, `${JSON.stringify(holder)}\n`, { flag: 'wx' });
  let takenOverFrom: LockHolder | undefined;
  try {
    for (let attempt = 0; ; attempt++) {
      if (attempt >= MAX_ATTEMPTS) throw lockedError(dir, path, undefined);
      try {
        await link(tmp, path);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const other = await readHolder(path);
      if (other === 'missing') continue; // released meanwhile
      if (!other || !isStale(other)) throw lockedError(dir, path, other);
      if ((await takeOver(path, tmp, other)) === 'ok') {
        takenOverFrom = other;
        break;
      }
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
    }
  } finally {
    await unlink(tmp).catch(() => {});
  }
  if (takenOverFrom) {
    const note = opts.onNote ?? ((m: string) => process.stderr.write(`note: ${m}\n`));
    note(
      `took over the stale lock on ${dir} left by ${describeLockHolder(takenOverFrom)}, which is no longer running`,
    );
  }
  held.set(path, holder.token);
  installExitHook();
  let released = false;
  return {
    path,
    holder,
    takenOverFrom,
    async release() {
      if (released) return;
      released = true;
      held.delete(path);
      const now = await readHolder(path).catch(() => undefined);
      if (now !== 'missing' && now?.token === holder.token) await unlink(path).catch(() => {});
    },
  };
}
