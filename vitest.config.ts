import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    // Builds the admin UI bundle (dist/ui) that the engine serves at /admin.
    globalSetup: ['test/helpers/build-ui.global.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: files run two at a time; each file owns its database schema and ports.
    maxWorkers: 2,
    minWorkers: 1,
    env: {
      DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    },
  },
});
