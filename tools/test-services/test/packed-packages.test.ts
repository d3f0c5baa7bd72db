// The packages as a user gets them: every package is packed with `pnpm pack`, installed with
// npm from its tarball into empty apps, imported, and (for the apps) compiled as a strict
// TypeScript consumer and run against the real services.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import '../src/provided-context.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../../..');

interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  type?: string;
  sideEffects?: boolean;
  files?: string[];
  engines?: { node?: string };
  exports: Record<string, string | { types?: string; import?: string }>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  devDependencies?: Record<string, string>;
}

async function readManifest(dir: string): Promise<Manifest> {
  return JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as Manifest;
}

const packageDirs = (await readdir(join(root, 'packages'))).map((d) => join(root, 'packages', d));
const packages = await Promise.all(
  packageDirs
    .filter((d) => existsSync(join(d, 'package.json')))
    .map(async (dir) => ({ dir, manifest: await readManifest(dir) })),
);
const workspace = new Map(packages.map((p) => [p.manifest.name, p]));
const rootManifest = await readManifest(root);

/** The workspace packages `name` needs, itself included, dependencies first. */
function closure(name: string, seen = new Set<string>()): string[] {
  if (seen.has(name)) return [];
  seen.add(name);
  const deps = Object.keys(workspace.get(name)?.manifest.dependencies ?? {}).filter((d) =>
    workspace.has(d),
  );
  return [...deps.flatMap((d) => closure(d, seen)), name];
}

/** The version the repository tests an optional peer with (its exact devDependency). */
function testedVersion(peer: string): string {
  for (const { manifest } of packages) {
    const version = manifest.devDependencies?.[peer];
    if (version !== undefined) return version;
  }
  throw new Error(`no package pins a devDependency on ${peer}`);
}

let packDir: string;
const tarballs = new Map<string, string>();

beforeAll(async () => {
  packDir = await mkdtemp(join(tmpdir(), 'shardcount-pack-'));
  for (const { dir, manifest: m } of packages) {
    if (!existsSync(join(dir, 'dist')))
      throw new Error(`${m.name} is not built: run "pnpm build" first`);
    const { stdout } = await run('pnpm', ['pack', '--pack-destination', packDir], { cwd: dir });
    const tarball = stdout.trim().split('\n').pop()!.trim();
    tarballs.set(m.name, tarball.startsWith('/') ? tarball : join(packDir, tarball));
  }
}, 120_000);

afterAll(async () => {
  if (packDir) await rm(packDir, { recursive: true, force: true });
});

/** Makes an empty ESM app folder; `use` gets it and it is removed afterwards. */
async function withApp<T>(use: (app: string) => Promise<T>): Promise<T> {
  const app = await mkdtemp(join(tmpdir(), 'shardcount-app-'));
  try {
    await writeFile(
      join(app, 'package.json'),
      JSON.stringify({ name: 'app', private: true, type: 'module' }),
    );
    return await use(app);
  } finally {
    await rm(app, { recursive: true, force: true });
  }
}

async function npmInstall(app: string, specs: readonly string[]): Promise<void> {
  await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...specs], {
    cwd: app,
    timeout: 300_000,
    maxBuffer: 16 * 1024 * 1024,
  });
}

/** The name of every package installed in the app's tree (all depths), once per copy. */
async function installedNames(app: string): Promise<string[]> {
  // --parseable lists what is on disk; the JSON form also lists optional peers nobody installed.
  const { stdout } = await run('npm', ['ls', '--all', '--parseable'], {
    cwd: app,
    maxBuffer: 64 * 1024 * 1024,
  }).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
  return stdout
    .split('\n')
    .filter((path) => path.includes('/node_modules/'))
    .map((path) => path.slice(path.lastIndexOf('/node_modules/') + '/node_modules/'.length));
}

/** Size of the app's node_modules in MB (what `du` reports), printed for the closing notes. */
async function nodeModulesMb(app: string, label: string): Promise<number> {
  const { stdout } = await run('du', ['-sk', join(app, 'node_modules')]);
  const mb = Number.parseInt(stdout, 10) / 1024;
  console.log(`packed app "${label}": node_modules ${mb.toFixed(1)} MB`);
  return mb;
}

describe.each(packages.map((p) => [p.manifest.name, p] as const))(
  '%s as published',
  (name, { dir, manifest: m }) => {
    test('has the manifest every package needs', () => {
      expect(m.type).toBe('module');
      expect(m.sideEffects).toBe(false);
      expect(m.files).toEqual(['dist', 'CHANGELOG.md']);
      expect(m.engines?.node, 'engines states the oldest tested line').toBe(
        rootManifest.engines?.node,
      );
      expect(m.private).toBeUndefined();
      expect(existsSync(join(dir, 'README.md')), 'package README').toBe(true);
      expect(existsSync(join(dir, 'CHANGELOG.md')), 'package CHANGELOG').toBe(true);
      for (const [dep, range] of Object.entries(m.dependencies ?? {})) {
        if (workspace.has(dep)) expect(range, dep).toBe('workspace:^');
        else expect(range, `${dep} is a range, not a pin`).toMatch(/^\^/);
      }
      for (const peer of Object.keys(m.peerDependencies ?? {})) {
        expect(m.peerDependenciesMeta?.[peer]?.optional, `${peer} is an optional peer`).toBe(true);
        expect(m.devDependencies?.[peer], `${peer} is tested at a pinned version`).toBeDefined();
      }
      for (const [subpath, target] of Object.entries(m.exports)) {
        if (typeof target === 'string') continue;
        expect(Object.keys(target)[0], `types first in exports["${subpath}"]`).toBe('types');
        expect(existsSync(join(dir, target.types!)), `${target.types} built`).toBe(true);
        expect(existsSync(join(dir, target.import!)), `${target.import} built`).toBe(true);
      }
    });

    test('installs from its tarball in an empty folder and imports every subpath', async () => {
      await withApp(async (app) => {
        // Optional peers that are light enough to install here; the Datastore client is
        // covered by the apps below (importing /datastore does not load it).
        const peers = Object.keys(m.peerDependencies ?? {})
          .filter((p) => p !== '@google-cloud/datastore')
          .map((p) => `${p}@${testedVersion(p)}`);
        await npmInstall(app, [...closure(name).map((n) => tarballs.get(n)!), ...peers]);
        const subpaths = Object.keys(m.exports).filter((s) => s !== './package.json');
        const script = subpaths
          .map(
            (s, i) =>
              `const m${i} = await import('${name}${s.slice(1)}'); if (Object.keys(m${i}).length === 0) throw new Error('${s} exports nothing');`,
          )
          .join('\n');
        await run('node', ['--input-type=module', '-e', script], { cwd: app });
      });
    }, 300_000);
  },
);

/** The code blocks marked `<!-- quick-start -->` in a README, in order. */
async function quickStarts(readme: string): Promise<string[]> {
  const text = await readFile(join(root, readme), 'utf8');
  return [...text.matchAll(/<!-- quick-start[^>]*-->\n```ts\n([\s\S]*?)\n```/g)].map((m) => m[1]!);
}

/**
 * Declarations of the app-side names the quick starts use (a user's own types and data
 * layer), so the blocks compile as written.
 */
const QUICK_START_PRELUDE = `
interface Config { readonly flags: readonly string[] }
declare function loadFlags(): Promise<Config>;
interface User { readonly id: string; readonly name: string }
declare const id: string;
declare const ids: string[];
declare const changed: User;
declare const db: {
  loadUser(id: string): Promise<User | null>;
  saveUser(user: User): Promise<void>;
  loadUsers(ids: readonly string[]): Promise<User[]>;
};
`;

const READMES_WITH_QUICK_STARTS = [
  'README.md',
  'packages/storage/README.md',
  'packages/core/README.md',
  'packages/pingpong/README.md',
  'packages/local-cache/README.md',
  'packages/opentelemetry/README.md',
];

/** A real increment through the packed packages, against the test run's emulator + memcached. */
const INCREMENT_SCRIPT = `
import { Datastore } from '@google-cloud/datastore';
import { ShardedCounterService } from '@shardcount/core';
import { DatastoreEntityStore } from '@shardcount/storage/datastore';
import { MemcachedCacheStore } from '@shardcount/storage/memcached';

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(name + ' is not set');
  return value;
};
const datastore = new Datastore({
  projectId: env('APP_PROJECT'),
  apiEndpoint: env('APP_EMULATOR'),
  universeDomain: 'googleapis.com',
  namespace: env('APP_NAMESPACE'),
});
const store = new DatastoreEntityStore({ datastore });
const cache = new MemcachedCacheStore({ servers: env('APP_MEMCACHED') });
const counters = new ShardedCounterService({ store, cache, cacheKeyPrefix: env('APP_NAMESPACE') });
await counters.increment('packed-app', 2);
await counters.increment('packed-app', 3);
const counter = await counters.getCounter('packed-app', { skipCache: true });
console.log(JSON.stringify({ count: counter?.count }));
await cache.close();
await store.close();
`;

const TSCONFIG = {
  compilerOptions: {
    strict: true,
    module: 'nodenext',
    moduleResolution: 'nodenext',
    target: 'es2022',
    outDir: 'out',
    rootDir: 'src',
    types: ['node'],
  },
  include: ['src'],
};

describe('apps built on the packed packages', () => {
  const all = packages.map((p) => p.manifest.name);

  test('an app on the embedded adapters installs no Datastore client, no memjs, no iovalkey', async () => {
    await withApp(async (app) => {
      await npmInstall(
        app,
        all.map((n) => tarballs.get(n)!),
      );
      const names = await installedNames(app);
      expect(names).toContain('@shardcount/core');
      expect(names).not.toContain('@google-cloud/datastore');
      expect(names).not.toContain('memjs');
      expect(names).not.toContain('iovalkey');
      await nodeModulesMb(app, 'embedded only');
      const script = `
        import { MemoryCacheStore, MemoryEntityStore } from '@shardcount/storage';
        import { ShardedCounterService } from '@shardcount/core';
        const counters = new ShardedCounterService({ store: new MemoryEntityStore(), cache: new MemoryCacheStore() });
        await counters.increment('x', 4);
        console.log(JSON.stringify(await counters.getCounter('x')));`;
      const { stdout } = await run('node', ['--input-type=module', '-e', script], { cwd: app });
      expect(JSON.parse(stdout)).toMatchObject({ name: 'x', count: 4 });
    });
  }, 300_000);

  describe.each(['10.1.1', '11.1.0'])('with @google-cloud/datastore %s', (datastoreVersion) => {
    test('one Datastore client, README quick starts compile (strict, nodenext), an increment runs on the emulator', async () => {
      await withApp(async (app) => {
        await npmInstall(app, [
          ...all.map((n) => tarballs.get(n)!),
          `@google-cloud/datastore@${datastoreVersion}`,
          `memjs@${testedVersion('memjs')}`,
        ]);
        const names = await installedNames(app);
        expect(
          names.filter((n) => n === '@google-cloud/datastore'),
          'one copy of the Datastore client',
        ).toHaveLength(1);
        await nodeModulesMb(app, `Datastore ${datastoreVersion}`);

        // The compiler is the repository's own; the app only adds Node's types.
        await npmInstall(app, [`@types/node@${rootManifest.devDependencies?.['@types/node']}`]);
        await mkdir(join(app, 'src'));
        await writeFile(join(app, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
        let n = 0;
        for (const readme of READMES_WITH_QUICK_STARTS) {
          const blocks = await quickStarts(readme);
          expect(blocks.length, `${readme} has a marked quick start`).toBeGreaterThan(0);
          for (const block of blocks) {
            await writeFile(
              join(app, 'src', `quick-start-${n++}.ts`),
              `// ${readme}\n${block}\n${QUICK_START_PRELUDE}\nexport {};\n`,
            );
          }
        }
        await writeFile(join(app, 'src', 'increment.ts'), INCREMENT_SCRIPT);
        const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
        const compiled = await run('node', [tsc, '-p', 'tsconfig.json'], { cwd: app }).catch(
          (error: { stdout?: string }) => {
            throw new Error(`the consumer does not compile:\n${error.stdout ?? String(error)}`);
          },
        );
        expect(compiled.stdout).toBe('');

        const { stdout } = await run('node', ['out/increment.js'], {
          cwd: app,
          timeout: 60_000,
          env: {
            ...process.env,
            METADATA_SERVER_DETECTION: 'none',
            APP_PROJECT: inject('datastoreProjectId'),
            APP_EMULATOR: inject('datastoreEmulatorAddress'),
            APP_MEMCACHED: inject('memcachedAddress'),
            APP_NAMESPACE: `packed-${datastoreVersion.replaceAll('.', '-')}-${Date.now()}`,
          },
        });
        expect(JSON.parse(stdout.trim().split('\n').pop()!)).toEqual({ count: 5 });
      });
    }, 600_000);
  });
});
