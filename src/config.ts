import { Ajv } from 'ajv';
import { AppError } from './errors.js';

/**
 * The only module that reads `process.env`. Values are parsed, validated with ajv, defaulted and frozen.
 * Library users pass the same fields to `createEngine` directly; `loadConfig()` is for the CLI/demo.
 */
export interface Config {
  port: number;
  host: string;
  /** PostgreSQL connection string; undefined = embedded PGlite in `dataDir`. */
  databaseUrl: string | undefined;
  dataDir: string;
  adminToken: string | undefined;
  /**
   * HOOKGATE_SECRET_KEY: encrypts stored secrets. 64 hex digits or base64 of 32 bytes, or a passphrase of 16+
   * characters (scrypt); comma-separated during a rotation, the first encrypts (parsed by `parseSecretKeys`).
   * Unset: a key generated into `<dataDir>/secret.key`.
   */
  secretKey: string | undefined;
  allowInsecureUrls: boolean;
  allowPrivateNetworks: boolean;
  scriptTimeoutMs: number;
  scriptMemoryMb: number;
  /** HOOKGATE_SHUTDOWN_TIMEOUT_MS: on SIGTERM, how long in-flight requests and deliveries get to finish. */
  shutdownTimeoutMs: number;
  /** HOOKGATE_METRICS_TOKEN: when set, `GET /metrics` needs it as a bearer token. Both tokens are trimmed (a secret file often ends in a newline). */
  metricsToken: string | undefined;
  /** HOOKGATE_RUN_RETENTION_DAYS: run records older than this are deleted (0 keeps them). */
  runRetentionDays: number;
  /** HOOKGATE_DELIVERY_RETENTION_DAYS: outgoing deliveries finished longer ago than this are deleted (0 keeps them). */
  deliveryRetentionDays: number;
  logLevel: string;
}

const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['port', 'host', 'dataDir', 'allowInsecureUrls', 'allowPrivateNetworks', 'scriptTimeoutMs', 'scriptMemoryMb', 'shutdownTimeoutMs', 'runRetentionDays', 'deliveryRetentionDays', 'logLevel'],
  properties: {
    port: { type: 'integer', minimum: 0, maximum: 65535 },
    host: { type: 'string', minLength: 1 },
    databaseUrl: { type: 'string', pattern: '^postgres(ql)?://' },
    dataDir: { type: 'string', minLength: 1 },
    adminToken: { type: 'string', minLength: 16 },
    secretKey: { type: 'string', minLength: 16 },
    metricsToken: { type: 'string', minLength: 16 },
    allowInsecureUrls: { type: 'boolean' },
    allowPrivateNetworks: { type: 'boolean' },
    scriptTimeoutMs: { type: 'integer', minimum: 10, maximum: 300000 },
    scriptMemoryMb: { type: 'integer', minimum: 8, maximum: 4096 },
    shutdownTimeoutMs: { type: 'integer', minimum: 0, maximum: 600000 },
    runRetentionDays: { type: 'integer', minimum: 0, maximum: 36500 },
    deliveryRetentionDays: { type: 'integer', minimum: 0, maximum: 36500 },
    logLevel: { enum: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] },
  },
} as const;

const validate = new Ajv({ allErrors: true }).compile(schema);

function toInt(value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  return /^-?\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
}

function toFlag(value: string | undefined): boolean {
  return value === '1' || value === 'true';
}

function blankToUndefined(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

/** Reads, validates and freezes the configuration from an environment (default `process.env`). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  const config: Config = {
    port: toInt(env.PORT, 3000),
    host: blankToUndefined(env.HOST) ?? '127.0.0.1',
    databaseUrl: blankToUndefined(env.DATABASE_URL),
    dataDir: blankToUndefined(env.HOOKGATE_DATA_DIR) ?? './data',
    adminToken: blankToUndefined(env.HOOKGATE_ADMIN_TOKEN)?.trim(),
    secretKey: blankToUndefined(env.HOOKGATE_SECRET_KEY),
    allowInsecureUrls: toFlag(env.HOOKGATE_ALLOW_INSECURE_URLS),
    allowPrivateNetworks: toFlag(env.HOOKGATE_ALLOW_PRIVATE_NETWORKS),
    scriptTimeoutMs: toInt(env.HOOKGATE_SCRIPT_TIMEOUT_MS, 5000),
    scriptMemoryMb: toInt(env.HOOKGATE_SCRIPT_MEMORY_MB, 64),
    shutdownTimeoutMs: toInt(env.HOOKGATE_SHUTDOWN_TIMEOUT_MS, 25_000),
    metricsToken: blankToUndefined(env.HOOKGATE_METRICS_TOKEN)?.trim(),
    runRetentionDays: toInt(env.HOOKGATE_RUN_RETENTION_DAYS, 30),
    deliveryRetentionDays: toInt(env.HOOKGATE_DELIVERY_RETENTION_DAYS, 30),
    logLevel: blankToUndefined(env.LOG_LEVEL) ?? 'info',
  };
  const checked = Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined));
  if (!validate(checked)) {
    const details = (validate.errors ?? []).map((e) => ({ path: e.instancePath, message: e.message }));
    throw new AppError('config_invalid', `Invalid configuration: ${details.map((d) => `${d.path} ${d.message}`).join('; ')}`, { details });
  }
  return Object.freeze(config);
}
