import { EventEmitter } from 'node:events';
import { Redis, type RedisOptions } from 'ioredis';
import type { RedisNodeAddress } from './config/index.ts';

const retryDelay = (attempt: number) => Math.min(attempt * 200, 2000);

/** CLUSTER SLOTS: `[[from, to, [host, port, id, …], [replica…]…], …]` → every node it names. */
function nodesIn(slots: unknown): RedisNodeAddress[] {
  if (!Array.isArray(slots)) return [];
  return slots.flatMap((range: unknown[]) =>
    range.slice(2).flatMap((node) => (Array.isArray(node) && typeof node[0] === 'string' && node[0] ? [{ host: node[0], port: Number(node[1]) }] : [])),
  );
}

/**
 * The one subscription of a process on a Redis Cluster: a connection to one node at a time, since a
 * PUBLISH reaches every node. ioredis's own cluster subscriber moves to another node silently when
 * its node goes, so its listeners could never know they had missed notices; this one emits 'ready'
 * each time it is subscribed again (on the next node that answers, from the seeds and the nodes
 * the cluster names), as a single server's connection does after a reconnect. Emits 'message'
 * (channel, text) and 'error' like an ioredis connection.
 */
export class ClusterSubscriber extends EventEmitter {
  readonly #options: RedisOptions;
  #nodes: RedisNodeAddress[];
  #next = 0;
  #attempt = 0;
  #channels: string[] = [];
  #current: Redis | undefined;
  #subscribed = false;
  #closed = false;
  #retry: NodeJS.Timeout | undefined;

  /** `options`: TLS, password and connection name of every node's connection. */
  constructor(seeds: RedisNodeAddress[], options: RedisOptions) {
    super();
    this.#nodes = [...seeds];
    this.#options = options;
    this.#connect();
  }

  /** Resolves once the channels are subscribed on the current node (or the next one to answer). */
  async subscribe(...channels: string[]): Promise<void> {
    this.#channels = [...new Set([...this.#channels, ...channels])];
    if (!this.#current || !this.#subscribed) await new Promise<void>((resolve) => this.once('ready', resolve));
    // Again on a node that was subscribing while these were added: SUBSCRIBE to a channel held is a no-op.
    await this.#current?.subscribe(...channels);
  }

  async quit(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    await this.#current?.quit().catch(() => this.#current?.disconnect());
  }

  disconnect(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#current?.disconnect();
  }

  #connect(): void {
    if (this.#closed) return;
    const { host, port } = this.#nodes[this.#next++ % this.#nodes.length]!;
    const redis = new Redis({ ...this.#options, host, port, retryStrategy: () => null, maxRetriesPerRequest: null });
    this.#current = redis;
    this.#subscribed = false;
    redis.on('error', (err: Error) => this.emit('error', err));
    redis.on('message', (channel: string, text: string) => this.emit('message', channel, text));
    redis.once('ready', () => {
      void (async () => {
        // The nodes the cluster names now, beside the seeds: where to go when this node goes.
        const named = nodesIn(await redis.cluster('SLOTS'));
        const known = new Map([...this.#nodes, ...named].map((node) => [`${node.host}:${node.port}`, node]));
        this.#nodes = [...known.values()];
        if (this.#channels.length) await redis.subscribe(...this.#channels);
        this.#subscribed = true;
        this.#attempt = 0;
        this.emit('ready');
      })().catch((err: Error) => {
        this.emit('error', err);
        redis.disconnect();
      });
    });
    redis.once('end', () => {
      if (this.#current !== redis || this.#closed) return;
      this.#current = undefined;
      // Straight on to the next node; once every node has failed in a row, with a growing pause.
      const delay = this.#attempt++ < this.#nodes.length ? 0 : retryDelay(this.#attempt - this.#nodes.length);
      this.#retry = setTimeout(() => this.#connect(), delay);
    });
  }
}
