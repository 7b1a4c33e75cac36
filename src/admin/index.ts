export { createAdminRouter, type AdminRouterOptions } from './router.js';
export { createAdminAuth, ensureBootstrapToken, generateAdminToken, hashToken } from './auth.js';
