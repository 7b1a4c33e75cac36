/** Where progress goes: stderr, so stdout keeps only the command's result. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** Items to do; 0 is fine (done at once). */
  total: number;
  /** What is being done, e.g. `redeliver`. */
  label: string;
  stream: ProgressStream;
  /** Injected in tests. */
  now?: () => number;
  /** Terminal: redraw at most this often (default 100 ms). */
  redrawMs?: number;
  /** Not a terminal (a log, CI): one line this often (default 5 s), and one at the end. */
  lineEveryMs?: number;
}

export interface Progress {
  /** `n` more items done. */
  tick(n?: number): void;
  /** Draws the final state (a newline on a terminal). Safe to call twice. */
  done(): void;
}

const BAR_WIDTH = 24;

/**
 * A progress bar for long work. On a terminal it redraws one line in place
 * (`redeliver [#########---------] 45% 450/1000  120/s  eta 5s`); elsewhere — a pipe, a log file, CI — it
 * prints the same figures as a plain line every few seconds instead, so logs stay readable.
 *
 * @example
 * const progress = createProgress({ total: ids.length, label: 'redeliver', stream: process.stderr });
 * for (const id of ids) { await work(id); progress.tick(); }
 * progress.done();
 */
export function createProgress(options: ProgressOptions): Progress {
  const now = options.now ?? Date.now;
  const tty = options.stream.isTTY === true;
  const interval = tty ? (options.redrawMs ?? 100) : (options.lineEveryMs ?? 5000);
  const started = now();
  let current = 0;
  let lastDrawn = started;
  let finished = false;

  const figures = (): string => {
    const total = Math.max(options.total, current);
    const fraction = total === 0 ? 1 : current / total;
    const elapsedSec = Math.max(0.001, (now() - started) / 1000);
    const rate = current / elapsedSec;
    const eta = rate > 0 && current < total ? ` eta ${formatSeconds((total - current) / rate)}` : '';
    const speed = current > 0 ? ` ${rate >= 10 ? Math.round(rate) : rate.toFixed(1)}/s` : '';
    return `${Math.floor(fraction * 100)}% ${current}/${total}${speed}${eta}`;
  };
  const draw = (final: boolean): void => {
    lastDrawn = now();
    if (!tty) {
      options.stream.write(`${options.label}: ${figures()}${final ? ` done in ${formatSeconds((now() - started) / 1000)}` : ''}\n`);
      return;
    }
    const total = Math.max(options.total, current);
    const filled = total === 0 ? BAR_WIDTH : Math.round((current / total) * BAR_WIDTH);
    const line = `${options.label} [${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${figures()}`;
    const width = options.stream.columns ?? 80;
    // \r and "erase line": redraw in place; cut to the terminal's width so it never wraps.
    options.stream.write(`\r\x1b[2K${line.slice(0, Math.max(10, width - 1))}${final ? '\n' : ''}`);
  };

  if (tty) draw(false);
  return {
    tick(n = 1) {
      if (finished) return;
      current += n;
      if (now() - lastDrawn >= interval) draw(false);
    },
    done() {
      if (finished) return;
      finished = true;
      draw(true);
    },
  };
}

function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}
