import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { acquireOutputLock, OUTPUT_LOCK_FILE, OutputLockedError } from '../src/index.js';

// Child processes use the built module (the test task depends on the build).
const LOCK_JS = fileURLToPath(new URL('../dist/lock.js', import.meta.url));

const root = mkdtempSync(join(tmpdir(), 'qlip-lock-'));
let n = 0;
const fresh = () => join(root, `d${n++}`);

/** A pid that certainly is not running: a child that has already exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  return r.pid!;
}

function staleLock(dir: string, pid: number, host = hostname()): void {
  writeFileSync(
    join(dir, OUTPUT_LOCK_FILE),
    JSON.stringify({
      pid,
      hostname: host,
      command: 'qlip tokenize',
      since: '2026-01-01T00:00:00.000Z',
      token: 'old',
    }),
  );
}

/** Start `count` processes that all try to take the lock at `startAt` and hold it for `holdMs`. */
function race(dir: string, count: number, holdMs: number): Promise<string[]> {
  const startAt = Date.now() + 1500;
  const script = `
    const { acquireOutputLock } = await import(${JSON.stringify(LOCK_JS)});
    await new Promise((r) => setTimeout(r, Math.max(0, ${startAt} - Date.now())));
    try {
      const l = await acquireOutputLock(${JSON.stringify(dir)}, 'racer', { onNote: (m) => console.log('NOTE ' + m) });
      console.log('GOT ' + process.pid);
      await new Promise((r) => setTimeout(r, ${holdMs}));
      await l.release();
    } catch (e) { console.log('REFUSED ' + e.name + ' ' + e.message); }
  `;
  const kids: ChildProcess[] = [];
  for (let i = 0; i < count; i++) kids.push(spawn(process.execPath, ['--input-type=module', '-e', script]));
  return Promise.all(
    kids.map(
      (k) =>
        new Promise<string>((resolve) => {
          let out = '';
          k.stdout!.on('data', (d) => (out += d));
          k.stderr!.on('data', (d) => (out += d));
          k.on('close', () => resolve(out.trim()));
        }),
    ),
  );
}

describe('acquireOutputLock', () => {
  it('is exclusive: a second acquisition is refused with an error naming the holder, and release frees it', async () => {
    const dir = fresh();
    const a = await acquireOutputLock(dir, 'qlip tokenize');
    const rec = JSON.parse(readFileSync(join(dir, OUTPUT_LOCK_FILE), 'utf8'));
    expect(rec).toMatchObject({ pid: process.pid, hostname: hostname(), command: 'qlip tokenize' });
    expect(Date.parse(rec.since)).toBeGreaterThan(0);
    const err = await acquireOutputLock(dir, 'qlip export').catch((e) => e);
    expect(err).toBeInstanceOf(OutputLockedError);
    expect(err.message).toContain(dir);
    expect(err.message).toContain(`pid ${process.pid} on host ${hostname()}`);
    expect(err.message).toContain('"qlip tokenize"');
    expect(err.message).toContain(`since ${rec.since}`);
    await a.release();
    await a.release(); // idempotent
    expect(existsSync(join(dir, OUTPUT_LOCK_FILE))).toBe(false);
    const b = await acquireOutputLock(dir, 'qlip export');
    await b.release();
    expect(readdirSync(dir)).toEqual([]); // no temp files left
  });

  it('takes over a stale lock of a dead process on this host and says so', async () => {
    const dir = fresh();
    await acquireOutputLock(dir, 'x').then((l) => l.release());
    const pid = deadPid();
    staleLock(dir, pid);
    const notes: string[] = [];
    const l = await acquireOutputLock(dir, 'qlip tokenize', { onNote: (m) => notes.push(m) });
    expect(l.takenOverFrom?.pid).toBe(pid);
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(new RegExp(`stale lock .* pid ${pid} on host .*no longer running`));
    expect(JSON.parse(readFileSync(l.path, 'utf8')).pid).toBe(process.pid);
    await l.release();
  });

  it("refuses another host's lock (its pid cannot be checked) and an unreadable lock file", async () => {
    const dir = fresh();
    await acquireOutputLock(dir, 'x').then((l) => l.release());
    staleLock(dir, deadPid(), 'some-other-host');
    await expect(acquireOutputLock(dir, 'qlip train')).rejects.toThrow(
      /pid \d+ on host some-other-host \("qlip tokenize"\).*if that process is gone, delete .*\.qlip\.lock/,
    );
    writeFileSync(join(dir, OUTPUT_LOCK_FILE), 'garbage');
    await expect(acquireOutputLock(dir, 'qlip train')).rejects.toThrow(
      /cannot be read as a qlip lock.*delete/,
    );
  });

  it('two real processes racing for one folder: exactly one wins, the other is refused naming the winner', async () => {
    const dir = fresh();
    const outs = await race(dir, 2, 1500);
    const got = outs.filter((o) => o.startsWith('GOT'));
    const refused = outs.filter((o) => o.startsWith('REFUSED'));
    expect(got, outs.join('\n')).toHaveLength(1);
    expect(refused, outs.join('\n')).toHaveLength(1);
    const winner = got[0]!.split(' ')[1];
    expect(refused[0]).toContain(`OutputLockedError`);
    expect(refused[0]).toContain(`pid ${winner} on host`);
    expect(refused[0]).toContain('"racer"');
    expect(existsSync(join(dir, OUTPUT_LOCK_FILE))).toBe(false);
  });

  it('four processes racing to take over one stale lock: exactly one takes it', async () => {
    const dir = fresh();
    await acquireOutputLock(dir, 'x').then((l) => l.release());
    staleLock(dir, deadPid());
    const outs = await race(dir, 4, 1500);
    expect(
      outs.filter((o) => o.includes('GOT')),
      outs.join('\n'),
    ).toHaveLength(1);
    expect(
      outs.filter((o) => o.startsWith('REFUSED')),
      outs.join('\n'),
    ).toHaveLength(3);
    expect(outs.filter((o) => o.includes('NOTE took over the stale lock'))).toHaveLength(1);
  });

  it('a holder killed with SIGKILL leaves a stale lock that the next run takes over; a process exiting on an error releases', async () => {
    const dir = fresh();
    const holder = spawn(process.execPath, [
      '--input-type=module',
      '-e',
      `const { acquireOutputLock } = await import(${JSON.stringify(LOCK_JS)});
       await acquireOutputLock(${JSON.stringify(dir)}, 'victim'); console.log('held'); setInterval(() => {}, 1000);`,
    ]);
    await new Promise<void>((r) => holder.stdout!.once('data', () => r()));
    await expect(acquireOutputLock(dir, 'me')).rejects.toThrow(/"victim"/);
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('close', r));
    const notes: string[] = [];
    const l = await acquireOutputLock(dir, 'me', { onNote: (m) => notes.push(m) });
    expect(notes[0]).toContain(`pid ${holder.pid}`);
    await l.release();

    const r = spawnSync(process.execPath, [
      '--input-type=module',
      '-e',
      `const { acquireOutputLock } = await import(${JSON.stringify(LOCK_JS)});
       await acquireOutputLock(${JSON.stringify(dir)}, 'crasher'); process.exit(3);`,
    ]);
    expect(r.status).toBe(3);
    expect(existsSync(join(dir, OUTPUT_LOCK_FILE))).toBe(false);
  });
});
