/*
 * The audit log's rules: what an entry records of a change (field-level before/after), how secrets are
 * redacted and how a script is referenced. The entries are written by the store (src/store/audit-log.ts),
 * in the transaction of the change, and read through `GET /admin/api/audit` (src/admin/audit-routes.ts).
 */
export { fieldChanges, keyChanges, lineDelta, REDACTED, scriptRef, settingsChanges, webhookChanges, type ScriptRef } from './changes.js';
