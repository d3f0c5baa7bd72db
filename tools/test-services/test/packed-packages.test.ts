import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

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
}

async function manifest(dir: string): Promise<Manifest> {
  return JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as Manifest;
}

const packageDirs = (await readdir(join(root, 'packages'))).map((d) => join(root, 'packages', d));
const packages = await Promise.all(
  packageDirs
    .filter((d) => existsSync(join(d, 'package.json')))
    .map(async (dir) => ({ dir, manifest: await manifest(dir) })),
);
const workspace = new Map(packages.map((p) => [p.manifest.name, p]));

/** The workspace packages `name` needs, itself included, dependencies first. */
function closure(name: string, seen = new Set<string>()): string[] {
  if (seen.has(name)) return [];
  seen.add(name);
  const deps = Object.keys(workspace.get(name)?.manifest.dependencies ?? {}).filter((d) =>
    workspace.has(d),
  );
  return [...deps.flatMap((d) => closure(d, seen)), name];
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

describe.each(packages.map((p) => [p.manifest.name, p] as const))(
  '%s as published',
  (name, { dir, manifest: m }) => {
    test('has the manifest every package needs', () => {
      expect(m.type).toBe('module');
      expect(m.sideEffects).toBe(false);
      expect(m.files).toEqual(['dist']);
      expect(m.engines?.node).toBe('>=20');
      expect(m.private).toBeUndefined();
      expect(existsSync(join(dir, 'README.md')), 'package README').toBe(true);
      for (const [subpath, target] of Object.entries(m.exports)) {
        if (typeof target === 'string') continue;
        expect(Object.keys(target)[0], `types first in exports["${subpath}"]`).toBe('types');
        expect(existsSync(join(dir, target.types!)), `${target.types} built`).toBe(true);
        expect(existsSync(join(dir, target.import!)), `${target.import} built`).toBe(true);
      }
    });

    test('installs from its tarball in an empty folder and imports', async () => {
      const app = await mkdtemp(join(tmpdir(), 'shardcount-app-'));
      try {
        await writeFile(
          join(app, 'package.json'),
          JSON.stringify({ name: 'app', private: true, type: 'module' }),
        );
        const needed = closure(name).map((n) => tarballs.get(n)!);
        await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...needed], {
          cwd: app,
          timeout: 180_000,
        });
        const subpaths = Object.keys(m.exports).filter((s) => s !== './package.json');
        const script = subpaths
          .map(
            (s, i) =>
              `const m${i} = await import('${name}${s.slice(1)}'); if (Object.keys(m${i}).length === 0) throw new Error('${s} exports nothing');`,
          )
          .join('\n');
        await run('node', ['--input-type=module', '-e', script], { cwd: app });
      } finally {
        await rm(app, { recursive: true, force: true });
      }
    }, 240_000);
  },
);
