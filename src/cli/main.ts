#!/usr/bin/env node
/**
 * `hookgate` (package.json `bin`): serve, migrate, keys, run-script, deliveries. See `hookgate --help`
 * and the README's CLI section.
 */
import 'reflect-metadata';
import { runCli } from './program.js';

const result = await runCli(process.argv);
if (result !== 'running') {
  process.exitCode = result;
  // Everything is closed by now; should a stray handle keep the event loop alive, do not hang the shell.
  setTimeout(() => process.exit(result), 2000).unref();
}
