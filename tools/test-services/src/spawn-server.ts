import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

/** util-linux's `setpriv`, which can give the server a parent-death signal. */
const SETPRIV = '/usr/bin/setpriv';

/**
 * Starts a server binary as a child of this process that dies with it. Through `setpriv
 * --pdeathsig KILL` (which then execs the server, so the child's pid is the server's own and
 * SIGSTOP/SIGCONT reach it), the kernel sends the server SIGKILL when this process ends in
 * any way, even SIGKILL, when no exit hook runs. Without setpriv it is a plain spawn and
 * only the launchers' exit hooks stop the server.
 */
export function spawnServer(
  binary: string,
  args: readonly string[],
  options: SpawnOptions,
): ChildProcess {
  if (process.platform === 'linux' && existsSync(SETPRIV)) {
    return spawn(SETPRIV, ['--pdeathsig', 'KILL', '--', binary, ...args], options);
  }
  return spawn(binary, [...args], options);
}
