import { Ajv, type ValidateFunction } from 'ajv';
import { AppError } from '../errors.js';

const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, coerceTypes: false, useDefaults: false });
const queryAjv = new Ajv({ allErrors: true, strict: true, coerceTypes: true });

export interface ValidationDetail {
  path: string;
  message: string;
  keyword: string;
  params: Record<string, unknown>;
}

function details(validate: ValidateFunction): ValidationDetail[] {
  return (validate.errors ?? []).map((e) => ({
    // additionalProperties names the offending field; make it part of the path a client can show.
    path: e.keyword === 'additionalProperties' ? `${e.instancePath}/${String(e.params.additionalProperty)}` : e.instancePath || '/',
    message: e.message ?? 'is invalid',
    keyword: e.keyword,
    params: e.params,
  }));
}

/** A checker that returns its input typed as `T`, or throws `validation_failed` (400) with ajv's details. */
export function validator<T>(schema: object, options: { query?: boolean } = {}): (input: unknown) => T {
  const validate = (options.query ? queryAjv : ajv).compile(schema);
  return (input) => {
    if (validate(input)) return input as T;
    const list = details(validate);
    const summary = list.slice(0, 5).map((d) => `${d.path} ${d.message}`).join('; ');
    throw new AppError('validation_failed', `The request is invalid: ${summary}`, { details: list });
  };
}
