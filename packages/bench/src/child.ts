import { type SpawnOptions, spawn } from 'node:child_process';

/** What a finished child process printed, or why it could not start. */
export type ChildOutput = { code: number | null; out: string; err: string } | { error: Error };

/** Runs `command args` to the end (stdin closed), collecting its stdout and stderr as text. */
export function runCollecting(
  command: string,
  args: string[],
  options: Pick<SpawnOptions, 'cwd' | 'timeout'>,
): Promise<ChildOutput> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', (error) => resolve({ error }));
    child.on('close', (code) => resolve({ code, out, err }));
  });
}
