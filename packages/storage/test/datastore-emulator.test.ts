import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type DatastoreEmulator, startDatastoreEmulator } from '@shardcount/test-services';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatastoreEntityStore } from '../src/entity/datastore-entity-store.js';
import { defineKind } from '../src/entity/key.js';
import { LimitExceededError } from '../src/errors/index.js';

/** Command lines of the processes serving `port` (the emulator's script and its java). */
function processesOnPort(port: number): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmdline.includes(`--port=${port} `) && /cloud_?datastore/i.test(cmdline)) {
        found.push(cmdline);
      }
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

async function healthy(address: string): Promise<boolean> {
  try {
    const response = await fetch(`http://${address}/`, { signal: AbortSignal.timeout(2_000) });
    return (await response.text()).trim() === 'Ok';
  } catch {
    return false;
  }
}

/**
 * Transpiles the launcher to plain ESM in `dir`, so a bare `node` child process can run it
 * (tests run TypeScript through vitest; a child process has no such loader).
 */
async function compileLauncher(dir: string): Promise<string> {
  const src = fileURLToPath(new URL('../../../tools/test-services/src/', import.meta.url));
  const datastore = createRequire(join(src, 'index.ts')).resolve('@google-cloud/datastore');
  for (const name of ['datastore-emulator', 'free-port']) {
    const { outputText } = ts.transpileModule(await readFile(join(src, `${name}.ts`), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    const code = outputText
      .replace("'@google-cloud/datastore'", JSON.stringify(pathToFileURL(datastore).href))
      .replace("'./free-port.js'", "'./free-port.mjs'");
    await writeFile(join(dir, `${name}.mjs`), code);
  }
  return pathToFileURL(join(dir, 'datastore-emulator.mjs')).href;
}

// A private emulator in legacy mode (the shared one runs in Firestore-in-Datastore mode).
describe('startDatastoreEmulator (legacy mode)', () => {
  let emulator: DatastoreEmulator;
  let store: DatastoreEntityStore;
  const Item = defineKind<{ n: number }>('Item');

  beforeAll(async () => {
    emulator = await startDatastoreEmulator({ mode: 'legacy' });
    store = new DatastoreEntityStore({
      datastore: emulator.createClient({ namespace: 'emulator-test' }),
    });
  });

  afterAll(async () => {
    await store?.close();
    await emulator?.stop();
  });

  it('serves on a free port of 127.0.0.1 and answers its health check', async () => {
    expect(emulator.host).toBe('127.0.0.1');
    expect(emulator.address).toBe(`127.0.0.1:${emulator.port}`);
    expect(await healthy(emulator.address)).toBe(true);
    expect(processesOnPort(emulator.port).length).toBeGreaterThan(0);
  });

  it('gives clients that store and read through DatastoreEntityStore', async () => {
    await store.save(Item.key('a'), { n: 1 });
    expect(await store.load(Item.key('a'))).toEqual({ n: 1 });
  });

  it('enforces legacy mode: a transaction over 25 entity groups is LimitExceededError', async () => {
    const keys = Array.from({ length: 26 }, (_, i) => Item.key(`group-${i}`));
    await expect(
      store.transact(async () => {
        await store.loadMany(keys);
        await store.saveMany(keys.map((k) => ({ key: k, entity: { n: 1 } })));
      }),
    ).rejects.toThrow(LimitExceededError);
    expect((await store.loadMany(keys)).every((e) => e === undefined)).toBe(true);
  });

  it('reset() deletes everything', async () => {
    await store.save(Item.key('r'), { n: 1 });
    await emulator.reset();
    expect(await store.load(Item.key('r'))).toBeUndefined();
  });

  it('writes its generated files into its own temporary directory, not the working directory', async () => {
    // The emulator writes WEB-INF/appengine-generated/ once it has served a query.
    await store.query(Item);
    expect(emulator.workDir.startsWith(tmpdir())).toBe(true);
    expect(existsSync(join(emulator.workDir, 'WEB-INF', 'appengine-generated'))).toBe(true);
  });

  it('stop() ends the script and its java, removes its directory, and is safe to repeat; the port can serve again', async () => {
    const own = await startDatastoreEmulator({ mode: 'legacy' });
    let again: DatastoreEmulator | undefined;
    try {
      expect(own.port).not.toBe(emulator.port);
      expect(processesOnPort(own.port).length).toBeGreaterThan(0);
      expect(existsSync(own.workDir)).toBe(true);
      await own.stop();
      expect(processesOnPort(own.port)).toEqual([]);
      expect(await healthy(own.address)).toBe(false);
      expect(existsSync(own.workDir)).toBe(false);
      await own.stop();
      // The other emulator is untouched.
      expect(await healthy(emulator.address)).toBe(true);
      // A new emulator on the stopped one's port (the `port` option).
      again = await startDatastoreEmulator({ mode: 'legacy', port: own.port });
      expect(again.port).toBe(own.port);
      expect(again.workDir).not.toBe(own.workDir);
      expect(await healthy(again.address)).toBe(true);
    } finally {
      await own.stop();
      await again?.stop();
    }
  });

  it('refuses a port that is taken or invalid, before starting anything', async () => {
    await expect(startDatastoreEmulator({ mode: 'legacy', port: emulator.port })).rejects.toThrow(
      /taken/,
    );
    await expect(startDatastoreEmulator({ port: 0 })).rejects.toThrow(RangeError);
    await expect(startDatastoreEmulator({ port: 1.5 })).rejects.toThrow(RangeError);
    expect(await healthy(emulator.address)).toBe(true);
  });

  it('does not outlive a Node process that is killed with SIGKILL (no exit hook runs)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shardcount-emulator-'));
    let child: ReturnType<typeof spawn> | undefined;
    try {
      const launcher = await compileLauncher(dir);
      const script = `const { startDatastoreEmulator } = await import(${JSON.stringify(launcher)});
        const emulator = await startDatastoreEmulator({ mode: 'legacy' });
        process.stdout.write(emulator.port + ' ' + emulator.workDir + '\\n');
        setInterval(() => {}, 60_000);`;
      const launched = spawn(process.execPath, ['--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      child = launched;
      const [port, workDir] = await new Promise<[number, string]>((resolve, reject) => {
        launched.stdout.once('data', (chunk: Buffer) => {
          const [portText = '', dirText = ''] = chunk.toString().trim().split(' ');
          resolve([Number(portText), dirText]);
        });
        launched.once('exit', (code) => reject(new Error(`launcher child exited early (${code})`)));
      });
      expect(processesOnPort(port).length).toBeGreaterThan(0);
      expect(existsSync(workDir)).toBe(true);
      launched.kill('SIGKILL');
      for (let i = 0; i < 150 && processesOnPort(port).length > 0; i++) await sleep(100);
      expect(processesOnPort(port)).toEqual([]);
      // The watchdog also removed the emulator's working directory.
      for (let i = 0; i < 50 && existsSync(workDir); i++) await sleep(100);
      expect(existsSync(workDir)).toBe(false);
    } finally {
      child?.kill('SIGKILL'); // our own child; already dead when the test passed
      await rm(dir, { recursive: true, force: true });
    }
  });
});
