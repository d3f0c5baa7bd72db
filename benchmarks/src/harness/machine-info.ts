import { execFileSync } from 'node:child_process';
import os from 'node:os';

/** Where and when a run happened, written next to its figures. */
export interface MachineInfo {
  readonly date: string;
  readonly node: string;
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGb: number;
  readonly os: string;
  /** Short commit of the checkout, `+ changes` when the working tree differs from it. */
  readonly commit: string | undefined;
}

function git(cwd: string, args: readonly string[]): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  }).trim();
}

function gitCommit(cwd: string): string | undefined {
  try {
    const commit = git(cwd, ['rev-parse', '--short', 'HEAD']);
    if (commit === '') return undefined;
    const dirty = git(cwd, ['status', '--porcelain', '--untracked-files=no']) !== '';
    return dirty ? `${commit} + changes` : commit;
  } catch {
    return undefined;
  }
}

/** Reads the machine's description; `cwd` locates the git checkout. */
export function readMachineInfo(cwd: string): MachineInfo {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    commit: gitCommit(cwd),
  };
}
