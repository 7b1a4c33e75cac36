import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, type ProcessSandbox } from '../../src/sandbox/index.js';
import { RUN_MODES, recordingInvoker, request } from './helpers.js';

describe.each(RUN_MODES)('$mode runs', ({ inlineRuns }) => {
  let sandbox: ProcessSandbox;

  beforeAll(() => {
    sandbox = createSandbox({ inlineRuns, processes: 1, isolatesPerProcess: 1, limits: { maxResultBytes: 1000 } });
  });

  afterAll(async () => {
    await sandbox.close();
  });

  /** `response`, the script's HTTP answer (issue 5): a local beside `result`, copied out as JSON. */
  describe('sandbox response', () => {
    it('is absent when unset and copied out when set, also after an await', async () => {
      const { invoke } = recordingInvoker();
      const unset = await sandbox.run(request('result = 1;'), invoke);
      expect(unset.status).toBe('ok');
      expect(unset.response).toBeUndefined();
      const set = await sandbox.run(request("const c = await actions.echo('abc'); response = { status: 200, body: { challenge: c } };"), invoke);
      expect(set).toMatchObject({ status: 'ok', result: null, response: { status: 200, body: { challenge: 'abc' } } });
    });

    it('does not leak from one run to the next in a reused isolate', async () => {
      const { invoke } = recordingInvoker();
      await sandbox.run(request("response = { body: 'first' };"), invoke);
      const next = await sandbox.run(request('result = response === null;'), invoke);
      expect(next).toMatchObject({ status: 'ok', result: true });
      expect(next.response).toBeUndefined();
    });

    it('counts towards the result size limit and must be JSON', async () => {
      const { invoke } = recordingInvoker();
      expect(await sandbox.run(request("response = { body: 'x'.repeat(2000) };"), invoke)).toMatchObject({ status: 'limit', error: { code: 'result_too_large' } });
      expect(await sandbox.run(request('response = { body: 1n };'), invoke)).toMatchObject({ status: 'error', error: { code: 'result_not_serializable' } });
      // A script may still declare its own `response`: it shadows the answer and is not sent.
      const shadowed = await sandbox.run(request("let response = { body: 'mine' }; result = response.body;"), invoke);
      expect(shadowed).toMatchObject({ status: 'ok', result: 'mine' });
      expect(shadowed.response).toBeUndefined();
    });
  });
});
