// The servers the tests start must never outlive the test run, even when the Node process
// that started them is killed with SIGKILL (no exit hook runs then).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { freePort } from '../src/index.js';

function alive(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false; // gone
  }
  // A zombie has ended; only its parent's reaping is left.
  return !/^\d+ \(.*\) Z/.test(stat);
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

describe('spawnServer', () => {
  it.runIf(process.platform === 'linux' && existsSync('/usr/bin/setpriv'))(
    'memcached and redis-server die with a Node process killed by SIGKILL',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'shardcount-lifetime-'));
      const source = await readFile(new URL('../src/spawn-server.ts', import.meta.url), 'utf8');
      const { outputText } = ts.transpileModule(source, {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      });
      const module = join(dir, 'spawn-server.mjs');
      await writeFile(module, outputText);
      const [memcachedPort, redisPort] = [await freePort(), await freePort()];
      const script = `
        const { spawnServer } = await import(${JSON.stringify(pathToFileURL(module).href)});
        const root = process.getuid() === 0 ? ['-u', 'root'] : [];
        const a = spawnServer('memcached', [...root, '-l', '127.0.0.1', '-p', '${memcachedPort}'], { stdio: 'ignore' });
        const b = spawnServer('redis-server', ['--port', '${redisPort}', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
        process.stdout.write(a.pid + ' ' + b.pid + '\\n');
        setInterval(() => {}, 60_000);`;
      const launched = spawn(process.execPath, ['--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      try {
        const pids = await new Promise<number[]>((resolve, reject) => {
          launched.stdout.once('data', (chunk: Buffer) =>
            resolve(chunk.toString().trim().split(' ').map(Number)),
          );
          launched.once('exit', (code) => reject(new Error(`launcher exited early (${code})`)));
        });
        expect(pids).toHaveLength(2);
        for (const pid of pids) expect(alive(pid), `server ${pid} runs`).toBe(true);
        const commands = pids.map(commandLine);
        expect(commands[0], 'the pid is the server itself (setpriv execs it)').toMatch(
          /^memcached\0/,
        );
        expect(commands[1]).toMatch(/redis-server/);
        launched.kill('SIGKILL');
        for (let i = 0; i < 100 && pids.some(alive); i++) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        for (const pid of pids)
          expect(alive(pid), `server ${pid} ended with its parent`).toBe(false);
      } finally {
        launched.kill('SIGKILL'); // our own child; already dead when the test passed
        await rm(dir, { recursive: true, force: true });
      }
    },
    30_000,
  );
});
