import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import type { RedeliverOptions } from './commands/deliveries.js';
import type { CreateKeyOptions, ListKeysOptions } from './commands/keys.js';
import type { MigrateOptions } from './commands/migrate.js';
import type { RunScriptOptions } from './commands/run-script.js';
import type { ServeOptions } from './commands/serve.js';
import { API_KEY_ROLES } from '../store/types.js';
import { describeFailure, EXIT } from './errors.js';

/*
 * The command line: every command, its options and help, here; each command's code lives in commands/ and
 * is imported only when that command runs, so `--help` and a mistyped option answer at once instead of
 * after loading the engine, the database drivers and the sandbox.
 */

/** A command's exit code, or `running` for `serve`, which keeps the process alive. */
export type CommandResult = number | 'running';

interface GlobalOptions {
  verbose?: boolean;
}

/** This package's version, from the package.json above this file (src/cli/ under tsx, dist/src/cli/ when built). */
function packageVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++, dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'hookgate') return pkg.version ?? '0.0.0';
    }
  }
  return '0.0.0';
}

/** The `hookgate` program; `run` receives each command's body when that command is chosen. */
export function buildProgram(run: (body: () => Promise<CommandResult>) => Promise<void>): Command {
  const program = new Command('hookgate');
  // Before the commands are added, so they inherit it: usage errors throw instead of exiting.
  program.exitOverride();
  program
    .description('hookgate: serve the webhook engine and run admin tasks on its database')
    .version(packageVersion(), '-V, --version')
    .option('--verbose', 'log what happens (at LOG_LEVEL, default info) and show stacks of unexpected errors')
    .showHelpAfterError('(add --help for usage)')
    .addHelpText(
      'after',
      "\nEvery command reads the server's configuration from the environment: DATABASE_URL (PostgreSQL), else the\n" +
        'embedded database in HOOKGATE_DATA_DIR (default ./data; locked while a server runs on it).\n' +
        'Exit codes: 0 done, 1 failed, 2 wrong usage or input file. `hookgate <command> --help` for each command.',
    );
  const verbose = (command: Command): boolean => command.optsWithGlobals<GlobalOptions>().verbose === true;

  program
    .command('serve')
    .description('start the engine with the demo app (what `npm start` runs) until Ctrl+C or SIGTERM')
    .option('-p, --port <port>', 'listen on this port (default: PORT, else 3000; 0 picks a free one)')
    .option('--host <host>', 'listen on this address (default: HOST, else 127.0.0.1)')
    .addHelpText(
      'after',
      '\nConfiguration comes from the environment, as for `npm start` (DATABASE_URL or HOOKGATE_DATA_DIR,\n' +
        'HOOKGATE_ADMIN_TOKEN, LOG_LEVEL, …; see the README). On the embedded database the data folder is\n' +
        'locked while the server runs: other hookgate commands on that folder wait until it stops.',
    )
    .action((options: ServeOptions) => run(async () => (await import('./commands/serve.js')).serve(options)));

  program
    .command('migrate')
    .description('bring the database schema up to date and list the migrations that ran')
    .option('--dry-run', 'only list the pending migrations')
    .option('--json', 'print {applied, pending} as JSON')
    .addHelpText('after', '\nSafe while servers run on PostgreSQL (an advisory lock serialises migrators). The server also migrates when it starts.')
    .action((options: MigrateOptions, command: Command) => run(async () => (await import('./commands/migrate.js')).migrate(options, verbose(command))));

  const keys = program
    .command('keys')
    .description('create, list and revoke admin API keys')
    .addHelpText('after', '\nThe CLI acts as the platform admin: it reaches the database, so it needs no key itself.');
  keys
    .command('create')
    .description('create an API key and print it once (only its SHA-256 is stored)')
    .addOption(new Option('--role <role>', 'what the key may do').choices([...API_KEY_ROLES]).makeOptionMandatory())
    .option('--tenant <tenantId>', 'the tenant it belongs to (required for owner and member; none = a platform admin key)')
    .option('--name <name>', 'a label shown in lists')
    .option('--json', 'print the key record, with `key`, as JSON')
    .addHelpText('after', '\nExamples:\n  hookgate keys create --role admin --name ops\n  hookgate keys create --role owner --tenant acme --name "acme owner"')
    .action((options: CreateKeyOptions, command: Command) => run(async () => (await import('./commands/keys.js')).createKey(options, verbose(command))));
  keys
    .command('list')
    .description('list API keys: prefix, role, tenant, created, last used, revoked (never the key)')
    .option('--tenant <tenantId>', "only this tenant's keys")
    .option('--platform', 'only platform keys (no tenant)')
    .option('--active', 'leave out revoked keys')
    .option('--json', 'print {items} as JSON, as GET /admin/api/keys does')
    .action((options: ListKeysOptions, command: Command) => run(async () => (await import('./commands/keys.js')).listKeys(options, verbose(command))));
  keys
    .command('revoke')
    .description('revoke a key: from then on it is refused (401)')
    .argument('<key>', "the key's id or its prefix as listed (e.g. hg_AbCdEfGh)")
    .option('--json', 'print the revoked key record as JSON')
    .addHelpText('after', '\nThe server that revokes a key refuses it at once; other running servers within 5 s (their key cache).')
    .action((ref: string, options: { json?: boolean }, command: Command) =>
      run(async () => (await import('./commands/keys.js')).revokeKey(ref, options, verbose(command))),
    );

  program
    .command('run-script')
    .description('run a script locally in the real sandbox on a payload, with stub actions that record their calls')
    .requiredOption('-f, --file <script.js>', 'the script (the body of an async function, as in a webhook)')
    .requiredOption('-p, --payload <payload.json>', 'the request body as JSON (`-` reads standard input)')
    .option('-H, --headers <headers.json>', 'request headers as a JSON object of strings')
    .option('--provider <provider>', 'use the stored inbound webhook of this provider: its allowed actions and emitEvents, and the global action switches (reads the database)')
    .option('--actions <ids>', "comma-separated action ids the script may call (default: the provider's allowedActions, else every action the app registers)")
    .option('--json', 'print {status, result, emit, logs, actionsCalled, durationMs, error?} as JSON, as the dry-run API does')
    .addHelpText(
      'after',
      '\nNothing real happens: every action call is recorded with its arguments and answers null; nothing is\n' +
        'emitted or stored. Limits as the server has them (HOOKGATE_SCRIPT_TIMEOUT_MS, HOOKGATE_SCRIPT_MEMORY_MB).\n' +
        'Exit code: 0 when the run ends ok; 1 when the script does not compile (line and column shown) or fails\n' +
        '(error, timeout, limit); 2 for unreadable or invalid input files.\n\n' +
        'Example:\n  hookgate run-script --file stripe.js --payload event.json --actions subscription.cancel',
    )
    .action((options: RunScriptOptions, command: Command) => run(async () => (await import('./commands/run-script.js')).runScript(options, verbose(command))));

  const deliveries = program.command('deliveries').description('outgoing deliveries in bulk');
  deliveries
    .command('redeliver')
    .description('queue matching finished deliveries again (due now, fresh retry budget, same webhook-id)')
    .requiredOption('--since <time>', 'finished at or after this time: ISO 8601 (2025-01-31T12:00:00Z) or relative (30m, 2h, 3d, 1w)')
    .addOption(new Option('--status <status>', 'which finished deliveries').choices(['failed', 'succeeded']).default('failed'))
    .option('--webhook <id>', 'only deliveries to this outgoing webhook')
    .option('--dry-run', 'count what would be queued, per endpoint, and change nothing')
    .option('--batch-size <n>', 'deliveries read per query', '500')
    .option('--no-progress', 'no progress bar (it goes to stderr; a line every 5 s when stderr is not a terminal)')
    .option('--json', 'print the summary as JSON')
    .addHelpText(
      'after',
      '\nEach delivery is queued as POST /admin/api/deliveries/:id/redeliver does. Running servers pick them up:\n' +
        'on PostgreSQL at once (NOTIFY); on the embedded database when a server next runs on it.\n' +
        'Deliveries to inactive endpoints, ones being sent right now, and webhook.test pings are left alone.\n\n' +
        'Example:\n  hookgate deliveries redeliver --status failed --since 2h --dry-run',
    )
    .action((options: RedeliverOptions, command: Command) =>
      run(async () => (await import('./commands/deliveries.js')).redeliverDeliveries(options, verbose(command))),
    );

  return program;
}

/**
 * Runs `hookgate` on `argv` (as `process.argv`) and resolves with the exit code, or `running` when a
 * server was started. Errors are printed to stderr as one line, `hookgate: …`.
 */
export async function runCli(argv: readonly string[]): Promise<CommandResult> {
  let result: CommandResult = EXIT.ok;
  const program = buildProgram(async (body) => {
    result = await body();
  });
  try {
    await program.parseAsync([...argv]);
    return result;
  } catch (err) {
    // Commander has printed its own message (or the help, or the version) already.
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    const { message, exitCode } = describeFailure(err, program.opts<GlobalOptions>().verbose === true);
    process.stderr.write(`hookgate: ${message}\n`);
    return exitCode;
  }
}
