import type { VerifyConfig } from '../../store/types.js';

export interface VerifyInput {
  rawBody: Buffer;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  nowMs: number;
}

/** Checks one request against one scheme; throws AppError (401 codes) when it is not authentic. */
export type Verifier = (config: VerifyConfig, input: VerifyInput) => void;

export const DEFAULT_TOLERANCE_SEC = 300;
