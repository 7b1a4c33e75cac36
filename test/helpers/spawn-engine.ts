import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

export interface EngineProcess {
  child: ChildProcess;
  pid: number;
  baseUrl: string;
  /** SIGKILL: the process dies at once, mid-whatever, like a crash or an OOM kill. */
  kill9(): Promise<void>;
  /** SIGTERM and wait for a clean exit. */
  stop(): Promise<void>;
}

/** Spawns `test/helpers/outbound-engine-process.ts` under tsx and waits until it listens. */
export async function spawnEngineProcess(env: Record<string, string>): Promise<EngineProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/outbound-engine-process.ts'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`engine process exited with ${code} before listening`)));
  });
  const { port, pid } = JSON.parse(line) as { port: number; pid: number };
  const exited = once(child, 'exit');
  return {
    child,
    pid,
    baseUrl: `http://127.0.0.1:${port}`,
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
