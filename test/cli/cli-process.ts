import { spawn, type ChildProcess } from 'node:child_process';

/*
 * The CLI as users run it: a real child process (`node --import tsx src/cli/main.ts …`), with only the
 * environment a test gives it on top of a clean one.
 */

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

const CLI = ['--import', 'tsx', 'src/cli/main.ts'];

/** The environment of every CLI child: the test's, minus what would point it at another database. */
function cliEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['DATABASE_URL', 'HOOKGATE_DATA_DIR', 'HOOKGATE_ADMIN_TOKEN', 'HOOKGATE_SECRET_KEY', 'LOG_LEVEL', 'PORT', 'HOST']) delete base[name];
  return { ...base, ...env };
}

/** Runs `hookgate <args>` to the end. */
export function runCli(args: string[], env: Record<string, string> = {}, options: { input?: string; timeoutMs?: number } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...CLI, ...args], { env: cliEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`hookgate ${args.join(' ')} did not finish in ${options.timeoutMs ?? 60_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

export interface ServingCli {
  child: ChildProcess;
  output(): string;
  /** SIGTERM, then the exit code once it exited. */
  stop(): Promise<number | null>;
}

/** Starts `hookgate serve …`; `output()` is stdout and stderr so far. */
export function startServe(args: string[], env: Record<string, string>): ServingCli {
  const child = spawn(process.execPath, [...CLI, 'serve', ...args], { env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.on('data', (d) => (text += d));
  child.stderr!.on('data', (d) => (text += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => text,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** A PostgreSQL URL whose sessions work in `schema` (search_path), as a user would point the CLI at one. */
export function urlWithSchema(databaseUrl: string, schema: string): string {
  const url = new URL(databaseUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}
