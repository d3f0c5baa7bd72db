import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import workspace from '../../../vitest.config.js';

// Runs the measurement script with the workspace's aliases, without the shared services
// (the script starts its own memcached) and without the test files:
//   npx vitest run --config packages/pingpong/scripts/vitest.measure.config.ts
export default defineConfig({
  root: fileURLToPath(new URL('../../..', import.meta.url)),
  resolve: workspace.resolve ?? {},
  test: {
    include: ['packages/pingpong/scripts/*.measure.ts'],
    pool: 'forks',
    testTimeout: 300_000,
    hookTimeout: 60_000,
  },
});
