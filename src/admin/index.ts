export { createAdminRouter, type AdminRouterOptions } from './router.js';
export { createAdminAuth, ensureBootstrapToken, generateAdminToken, hashToken, KEY_CACHE_MS } from './auth.js';
export { addKeyRoutes, createApiKey, findApiKey, generateApiKey, keyView, type NewApiKey } from './key-routes.js';
export { ADMIN_ROUTES, findRouteSpec, permissionGuard, type AdminRouteSpec } from './route-table.js';
export { buildOpenApiDocument } from './openapi.js';
export { allows, canSeeTenant, isPlatform, PLATFORM_ADMIN, requirePermission, type Permission, type Principal } from './principal.js';
export { createRunReplayer, type ReplayedRun, type RunReplayer } from './replay.js';
export { dryRunScript, type DryRunContext, type DryRunInput, type DryRunResult, type DryRunTarget } from './dry-run.js';
export { createAdminUiRouter, defaultUiAssetsDir, adminUiCsp, type AdminUiOptions } from './ui-router.js';
