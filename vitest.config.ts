import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

// Tests import the workspace packages from source, so they run without a build; the
// packed-tarball tests check the built packages.
export default defineConfig({
  resolve: {
    alias: [
      {
        find: /^@shardcount\/storage\/testing$/,
        replacement: src('./packages/storage/src/testing/index.ts'),
      },
      {
        find: /^@shardcount\/storage\/datastore$/,
        replacement: src('./packages/storage/src/datastore.ts'),
      },
      {
        find: /^@shardcount\/storage\/memcached$/,
        replacement: src('./packages/storage/src/memcached.ts'),
      },
      {
        find: /^@shardcount\/storage\/valkey$/,
        replacement: src('./packages/storage/src/valkey.ts'),
      },
      { find: /^@shardcount\/storage$/, replacement: src('./packages/storage/src/index.ts') },
      { find: /^@shardcount\/core$/, replacement: src('./packages/core/src/index.ts') },
      { find: /^@shardcount\/pingpong$/, replacement: src('./packages/pingpong/src/index.ts') },
      {
        find: /^@shardcount\/opentelemetry$/,
        replacement: src('./packages/opentelemetry/src/index.ts'),
      },
      {
        find: /^@shardcount\/local-cache$/,
        replacement: src('./packages/local-cache/src/index.ts'),
      },
    ],
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'tools/*/test/**/*.test.ts'],
    globalSetup: ['./tools/test-services/src/global-setup.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 90_000,
    teardownTimeout: 30_000,
  },
});
