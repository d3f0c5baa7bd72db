import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  ChildServer,
  findBinary,
  forgetDirectory,
  startOnFreePort,
  trackDirectory,
} from './child-server.js';
import { freePort } from './free-port.js';

/**
 * A Valkey-compatible server (`valkey-server`, else Debian's `redis-server` 7.x) this module
 * started as a child process, listening on 127.0.0.1.
 */
export interface ValkeyServer {
  /** Always `127.0.0.1`. */
  readonly host: string;
  /** TCP port it listens on; the same after {@link ValkeyServer.restart}. */
  readonly port: number;
  /** `127.0.0.1:PORT`. */
  readonly address: string;
  /** `redis://127.0.0.1:PORT`, the form `ValkeyCacheStore`'s `url` option takes. */
  readonly url: string;
  /** Whether the process is running (started and not stopped or exited). */
  readonly running: boolean;
  /** Ends the process (SIGTERM, SIGKILL after 5 s), waits for it to exit, removes its files. Idempotent. */
  stop(): Promise<void>;
  /**
   * Stops the process if it runs, then starts it again on the same port. A standalone
   * server comes back empty (nothing is persisted); a cluster node keeps its cluster
   * configuration (`nodes.conf`) and rejoins, its keys gone.
   */
  restart(): Promise<void>;
  /**
   * Freezes the process (SIGSTOP): connections stay open and requests go unanswered, as
   * with a hung server. Resolves once every thread of it has stopped.
   * {@link ValkeyServer.resume} thaws it; `stop()` thaws it first.
   */
  pause(): Promise<void>;
  /** Thaws a paused process (SIGCONT); it answers what was sent meanwhile. */
  resume(): void;
}

/** A cluster this module started: primaries, and replicas when asked for. */
export interface ValkeyCluster {
  /** Its nodes, primaries and replicas, as `--cluster create` was given them. */
  readonly nodes: readonly ValkeyServer[];
  /** `host:port` of every node, comma-separated: what tests pass around. */
  readonly addresses: string;
  /** `host:port` of the primaries now, as the cluster reports them. */
  primaries(): Promise<string[]>;
  /**
   * A coordinated failover (`CLUSTER FAILOVER` on a replica of `primary`): the replica takes
   * every write of its primary, then the roles swap. Resolves with the new primary's
   * `host:port` once every node sees it as the owner of the old primary's slots. Needs
   * `replicasPerPrimary` of at least 1.
   */
  failover(primary: string): Promise<string>;
  /** Stops every node and removes their files. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startValkey}. */
export interface StartValkeyOptions {
  /** Port to listen on; a free one by default. */
  readonly port?: number;
}

/** Options of {@link startValkeyCluster}. */
export interface StartValkeyClusterOptions {
  /** Number of primaries, at least 3 (what `--cluster create` accepts). Default 3. */
  readonly primaries?: number;
  /** Replicas per primary (`--cluster-replicas`). Default 0. */
  readonly replicasPerPrimary?: number;
}

const CLUSTER_DEADLINE_MS = 30_000;
const SERVER_BINARIES = ['valkey-server', 'redis-server'];
const INSTALL_HINT =
  "Install Debian's redis-server 7 (wire-compatible with Valkey 7.2): " +
  '`apt-get update && apt-get install -y redis-server` (the bootstrap does this).';

/**
 * Starts a standalone Valkey (or Redis 7) server on 127.0.0.1 as a child process, with
 * persistence off, and resolves once it answers `INFO` with its own pid. The caller owns
 * it: call `stop()` (in `afterAll` or `finally`). A process exit hook kills any server still
 * running.
 *
 * @throws Error when no server binary is installed or the server does not come up.
 */
export async function startValkey(options: StartValkeyOptions = {}): Promise<ValkeyServer> {
  return startNode(options.port, async () => []);
}

/**
 * Starts `primaries × (1 + replicasPerPrimary)` cluster-enabled servers on free ports (client
 * and cluster-bus ports), joins them with `redis-cli --cluster create` and resolves once
 * every node reports `cluster_state:ok`. On failure every node started is stopped.
 */
export async function startValkeyCluster(
  options: StartValkeyClusterOptions = {},
): Promise<ValkeyCluster> {
  const primaries = options.primaries ?? 3;
  if (!Number.isSafeInteger(primaries) || primaries < 3) {
    throw new Error(`A cluster needs at least 3 primaries, got ${primaries}.`);
  }
  const replicas = options.replicasPerPrimary ?? 0;
  if (!Number.isSafeInteger(replicas) || replicas < 0) {
    throw new Error(`replicasPerPrimary must be a whole number, got ${replicas}.`);
  }
  const cli = findBinary(['valkey-cli', 'redis-cli'], INSTALL_HINT);
  const started = await Promise.allSettled(
    Array.from({ length: primaries * (1 + replicas) }, async () =>
      startNode(undefined, async () => [
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        'nodes.conf',
        '--cluster-port',
        String(await freePort()),
        '--cluster-node-timeout',
        '2000',
        // Keep answering reads and writes for the slots a node still owns when another
        // node is down, as a partially failed cluster does.
        '--cluster-require-full-coverage',
        'no',
      ]),
    ),
  );
  const nodes = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const stop = async (): Promise<void> => {
    await Promise.allSettled(nodes.map((node) => node.stop()));
  };
  try {
    const failed = started.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
    await promisify(execFile)(
      cli,
      [
        '--cluster',
        'create',
        ...nodes.map((node) => node.address),
        '--cluster-replicas',
        String(replicas),
        '--cluster-yes',
      ],
      { timeout: CLUSTER_DEADLINE_MS },
    );
    const deadline = Date.now() + CLUSTER_DEADLINE_MS;
    for (const node of nodes) {
      const state = (): Promise<string | undefined> =>
        query(node.host, node.port, 'CLUSTER INFO', /cluster_state:(\w+)/).then((m) => m?.[1]);
      while ((await state()) !== 'ok') {
        if (Date.now() > deadline) throw new Error(`cluster node ${node.address} never got ready.`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    // Replicas are attached after the slots are assigned: wait until every node sees them
    // all, and each replica has synced with its primary.
    for (const node of nodes) {
      for (;;) {
        const reply = await query(
          node.host,
          node.port,
          'CLUSTER NODES',
          /^\$\d+\r\n([\s\S]*)\r\n$/,
        );
        const replicaLines = (reply?.[1] ?? '')
          .split('\n')
          .filter((line) => / (myself,)?slave /.test(line));
        if (replicaLines.length === primaries * replicas) {
          const isReplica = replicaLines.some((line) => line.includes(`${node.address}@`));
          const link = isReplica
            ? (
                await query(node.host, node.port, 'INFO replication', /master_link_status:(\w+)/)
              )?.[1]
            : 'up';
          if (link === 'up') break;
        }
        if (Date.now() > deadline)
          throw new Error(`cluster node ${node.address} never saw its replicas.`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  const byAddress = (address: string): ValkeyServer => {
    const node = nodes.find((n) => n.address === address);
    if (node === undefined) throw new Error(`${address} is not a node of this cluster.`);
    return node;
  };
  const listPrimaries = async (): Promise<string[]> =>
    (await clusterNodes(nodes[0]!)).filter((n) => n.primary).map((n) => n.address);
  const failover = async (primary: string): Promise<string> => {
    const table = await clusterNodes(byAddress(primary));
    const me = table.find((n) => n.address === primary);
    const replica = table.find((n) => !n.primary && n.primaryId === me?.id);
    if (me === undefined || replica === undefined) {
      throw new Error(`${primary} is not a primary with a replica.`);
    }
    const target = byAddress(replica.address);
    const ok = await query(target.host, target.port, 'CLUSTER FAILOVER', /^(\+OK|-.*)\r\n/);
    if (ok?.[1] !== '+OK') throw new Error(`CLUSTER FAILOVER on ${replica.address}: ${ok?.[1]}`);
    const deadline = Date.now() + CLUSTER_DEADLINE_MS;
    for (;;) {
      const views = await Promise.all(nodes.map((node) => clusterNodes(node)));
      const agreed = views.every((view) =>
        view.some((n) => n.address === replica.address && n.primary),
      );
      if (agreed) return replica.address;
      if (Date.now() > deadline) throw new Error(`failover to ${replica.address} never completed.`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  return {
    nodes,
    addresses: nodes.map((node) => node.address).join(','),
    primaries: listPrimaries,
    failover,
    stop,
  };
}

/** One line of `CLUSTER NODES`. */
interface ClusterNodeLine {
  readonly id: string;
  readonly address: string;
  readonly primary: boolean;
  readonly primaryId: string | undefined;
}

/** `CLUSTER NODES` as `node` sees the cluster (empty when it does not answer). */
async function clusterNodes(node: ValkeyServer): Promise<ClusterNodeLine[]> {
  const reply = await query(node.host, node.port, 'CLUSTER NODES', /^\$\d+\r\n([\s\S]*)\r\n$/);
  return (reply?.[1] ?? '')
    .trim()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [id, address, flags, primaryId] = line.split(' ');
      return {
        id: id ?? '',
        address: (address ?? '').split('@')[0] ?? '',
        primary: (flags ?? '').split(',').includes('master'),
        primaryId: primaryId === '-' ? undefined : primaryId,
      };
    });
}

/**
 * Starts one server; `extraArgs` is asked again on every attempt, so ports it picks (a
 * cluster bus port) are fresh when a port race made the previous attempt fail.
 */
async function startNode(
  port: number | undefined,
  extraArgs: () => Promise<string[]>,
): Promise<ValkeyServer> {
  const binary = findBinary(SERVER_BINARIES, INSTALL_HINT);
  return startOnFreePort(port, async (free) => new ChildValkey(binary, free, await extraArgs()));
}

class ChildValkey extends ChildServer implements ValkeyServer {
  protected readonly label = 'valkey';
  readonly url: string;
  readonly #extraArgs: string[];
  #dir: string | undefined;

  constructor(binary: string, port: number, extraArgs: string[]) {
    super(binary, port);
    this.url = `redis://${this.address}`;
    this.#extraArgs = extraArgs;
  }

  protected arguments(): string[] {
    if (this.#dir === undefined) {
      this.#dir = mkdtempSync(join(tmpdir(), 'shardcount-valkey-'));
      trackDirectory(this.#dir);
    }
    return [
      '--bind',
      this.host,
      '--port',
      String(this.port),
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      this.#dir,
      '--daemonize',
      'no',
      ...this.#extraArgs,
    ];
  }

  protected async servingPid(): Promise<number | undefined> {
    const match = await query(this.host, this.port, 'INFO server', /process_id:(\d+)\r\n/);
    return match === undefined ? undefined : Number(match[1]);
  }

  async stop(): Promise<void> {
    await this.stopProcess();
    if (this.#dir !== undefined) {
      forgetDirectory(this.#dir);
      this.#dir = undefined;
    }
  }
}

/**
 * Sends one inline command and resolves with the first match of `pattern` in the reply, or
 * `undefined` when nothing matches within 1 s (refused, not ready, no match).
 */
function query(
  host: string,
  port: number,
  command: string,
  pattern: RegExp,
): Promise<RegExpExecArray | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let reply = '';
    const finish = (match: RegExpExecArray | undefined): void => {
      socket.destroy();
      resolve(match);
    };
    socket.setTimeout(1_000, () => finish(undefined));
    socket.once('error', () => finish(undefined));
    socket.once('close', () => finish(undefined));
    socket.once('connect', () => socket.write(`${command}\r\n`));
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      reply += text;
      const match = pattern.exec(reply);
      if (match !== null) finish(match);
    });
  });
}
