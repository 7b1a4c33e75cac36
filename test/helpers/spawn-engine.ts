import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface EngineProcess {
  child: ChildProcess;
  pid: number;
  baseUrl: string;
  /** SIGKILL: the process dies at once, mid-whatever, like a crash or an OOM kill. */
  kill9(): Promise<void>;
  /** SIGTERM and wait for a clean exit. */
  stop(): Promise<void>;
  /** Resolves when the process exits: its exit code, or the signal that ended it. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** What it wrote to stderr so far (its logs), when spawned with `captureStderr`. */
  stderr(): string;
}

export interface SpawnEngineOptions {
  /** The process's module (default `test/helpers/outbound-engine-process.ts`). */
  script?: string;
  /** Keep stderr to read with `stderr()` instead of passing it through. */
  captureStderr?: boolean;
}

/** Spawns `test/helpers/outbound-engine-process.ts` (or `options.script`) under tsx and waits until it listens. */
export async function spawnEngineProcess(env: Record<string, string>, options: SpawnEngineOptions = {}): Promise<EngineProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', options.script ?? 'test/helpers/outbound-engine-process.ts'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', options.captureStderr ? 'pipe' : 'inherit'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`engine process exited with ${code} before listening${stderr ? `:\n${stderr.slice(-4000)}` : ''}`)));
  });
  const { port, pid } = JSON.parse(line) as { port: number; pid: number };
  return {
    child,
    pid,
    baseUrl: `http://127.0.0.1:${port}`,
    exited,
    stderr: () => stderr,
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
