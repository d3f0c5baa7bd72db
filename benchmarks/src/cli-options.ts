/** Which adapters the scenarios run on. */
export type BackendKind = 'embedded' | 'real';

/** Which cache the real backend runs on. */
export type CacheKind = 'memcached' | 'valkey';

/** Mode of the Cloud Datastore emulator on the real backend. */
export type EmulatorMode = 'firestore-in-datastore' | 'legacy';

/** What the command line (and the environment) asked for. */
export interface CliOptions {
  readonly backend: BackendKind;
  readonly emulatorMode: EmulatorMode;
  /** The real backend's cache. */
  readonly cache: CacheKind;
  /** Scenario ids to run; all when empty. */
  readonly only: readonly string[];
  readonly help: boolean;
}

export const USAGE = `Usage: pnpm bench [-- options]

  --backend embedded|real  embedded (default): in-process adapters, no servers.
                           real: the Cloud Datastore emulator + memcached, started and
                           stopped by this run. Also: SHARDCOUNT_BENCH_BACKEND=real.
  --emulator firestore|legacy
                           real backend: the emulator's mode. firestore (default) is
                           Firestore in Datastore mode, what new projects get; legacy is
                           classic Cloud Datastore (optimistic concurrency, faster here).
  --cache memcached|valkey
                           real backend: the cache. memcached (default), or valkey (a
                           Valkey-compatible server, redis-server 7 here, through
                           ValkeyCacheStore; raw iovalkey INCRBY/GET are the limit rows).
                           Writes latest-real-valkey.{md,json}.
  --only id[,id...]        run only these scenarios (ids below); writes
                           latest-<backend>-partial.{md,json}.
  --help                   this text.
`;

/** Thrown for a command line the runner cannot follow; the runner prints it with the usage. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

function parseBackend(value: string | undefined, source: string): BackendKind {
  if (value === 'embedded' || value === 'real') return value;
  throw new UsageError(`${source} must be "embedded" or "real", got ${JSON.stringify(value)}.`);
}

/** Reads `argv` (without node and the script) and `SHARDCOUNT_BENCH_BACKEND`. */
export function parseCliOptions(argv: readonly string[], env: NodeJS.ProcessEnv): CliOptions {
  const fromEnv = env.SHARDCOUNT_BENCH_BACKEND;
  let backend: BackendKind =
    fromEnv === undefined || fromEnv === ''
      ? 'embedded'
      : parseBackend(fromEnv, 'SHARDCOUNT_BENCH_BACKEND');
  let emulatorMode: EmulatorMode = 'firestore-in-datastore';
  let cache: CacheKind = 'memcached';
  const only: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    // `pnpm bench -- --backend real` may hand the separator through.
    if (arg === '--') continue;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? arg.split('=', 2) : [arg];
    const value = (): string => {
      if (inline !== undefined) return inline;
      const next = argv[i + 1];
      if (next === undefined) throw new UsageError(`${flag} needs a value.`);
      i++;
      return next;
    };
    switch (flag) {
      case '--backend':
        backend = parseBackend(value(), '--backend');
        break;
      case '--emulator': {
        const mode = value();
        if (mode !== 'firestore' && mode !== 'legacy') {
          throw new UsageError(
            `--emulator must be "firestore" or "legacy", got ${JSON.stringify(mode)}.`,
          );
        }
        emulatorMode = mode === 'firestore' ? 'firestore-in-datastore' : 'legacy';
        break;
      }
      case '--cache': {
        const kind = value();
        if (kind !== 'memcached' && kind !== 'valkey') {
          throw new UsageError(
            `--cache must be "memcached" or "valkey", got ${JSON.stringify(kind)}.`,
          );
        }
        cache = kind;
        break;
      }
      case '--only':
        only.push(
          ...value()
            .split(',')
            .filter((id) => id !== ''),
        );
        break;
      case '--help':
      case '-h':
        help = true;
        break;
      default:
        throw new UsageError(`Unknown argument ${JSON.stringify(arg)}.`);
    }
  }
  if (cache !== 'memcached' && backend !== 'real') {
    throw new UsageError('--cache applies to the real backend only (--backend real).');
  }
  return { backend, emulatorMode, cache, only, help };
}
