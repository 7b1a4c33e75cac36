export { createAdminRouter, type AdminRouterOptions } from './router.js';
export { createAdminAuth, ensureBootstrapToken, generateAdminToken, hashToken } from './auth.js';
export { addKeyRoutes, generateApiKey, keyView } from './key-routes.js';
export { ADMIN_ROUTES, findRouteSpec, permissionGuard, type AdminRouteSpec } from './route-table.js';
export { buildOpenApiDocument } from './openapi.js';
export { allows, canSeeTenant, isPlatform, requirePermission, type Permission, type Principal } from './principal.js';
export { createRunReplayer, type ReplayedRun, type RunReplayer } from './replay.js';
export { createAdminUiRouter, defaultUiAssetsDir, adminUiCsp, type AdminUiOptions } from './ui-router.js';
