/**
 * A 3-node nats-server JetStream cluster for tests and benchmarks (issue 10), every port picked by the
 * servers (client and route ports -1, read back from their ports files), each node with its own store in
 * its own folder under `dir`:
 *
 *   node 1: --cluster nats://127.0.0.1:-1 --routes nats://127.0.0.1:1   (a route nobody answers: a JetStream
 *           cluster refuses to start without one, and node 1 cannot name its peers' ports before they exist)
 *   node 2, 3: --cluster nats://127.0.0.1:-1 --routes <node 1's route URL>
 *
 * Nodes 2 and 3 dial node 1 and gossip makes the full mesh. {@link Cluster3.killLeader} SIGKILLs the server
 * leading a stream (`$JS.API.STREAM.INFO`'s cluster.leader); {@link Cluster3.restart} starts it again on
 * the same client and route ports and store, routed to the live nodes, so clients listing the three URLs
 * and the other nodes find it where it was.
 */
import path from 'node:path';
import { connectEngine, type NatsEngine } from '../../src/engine/nats-connect.ts';
import { retryTransient } from '../../src/engine/jetstream-retry.ts';
import { startNatsServer, type NatsServer } from './nats-server.ts';

export interface Cluster3 {
  /** The client URLs of node 1, 2, 3 (stable across restarts). */
  urls: string[];
  /** The running server of each node (`undefined` while killed). */
  nodes: Array<NatsServer | undefined>;
  /** The node names: `n1`, `n2`, `n3` (nats-server's `server_name`, what cluster.leader reports). */
  names: string[];
  /** The server leading `stream` (its name) and its index. */
  leaderOf(stream: string): Promise<{ name: string; index: number }>;
  /** SIGKILLs the leader of `stream`; resolves with the node killed once its process is gone. */
  killLeader(stream: string): Promise<{ name: string; index: number }>;
  /** Starts node `index` again (same ports and store), routed to the live nodes. */
  restart(index: number): Promise<void>;
  /** Resolves once `stream` has a leader and every replica is current again. */
  caughtUp(stream: string): Promise<void>;
  /** SIGTERMs every node still running and closes the observer connection. */
  stop(): Promise<void>;
}

const CLUSTER_NAME = 'cla-test';

/**
 * Starts three nodes in `dir/n1..n3` and resolves once the cluster answers JetStream requests (its
 * metadata leader elected).
 */
export async function startCluster3(dir: string): Promise<Cluster3> {
  const names = ['n1', 'n2', 'n3'];
  const nodes: Array<NatsServer | undefined> = [];
  const clusterArgs = (i: number, routes: string[], ports?: { client: number; cluster: number }) => [
    '--server_name',
    names[i]!,
    '--cluster_name',
    CLUSTER_NAME,
    '--cluster',
    `nats://127.0.0.1:${ports?.cluster ?? -1}`,
    '--routes',
    routes.join(','),
    ...(ports ? ['-p', String(ports.client)] : []),
  ];
  try {
    nodes.push(await startNatsServer(path.join(dir, names[0]!), clusterArgs(0, ['nats://127.0.0.1:1'])));
    const seed = `nats://127.0.0.1:${nodes[0]!.clusterPort}`;
    for (const i of [1, 2]) nodes.push(await startNatsServer(path.join(dir, names[i]!), clusterArgs(i, [seed])));
  } catch (error) {
    await Promise.all(nodes.map((node) => node?.kill()));
    throw error;
  }
  const ports = nodes.map((node) => ({ client: node!.port, cluster: node!.clusterPort! }));
  const urls = ports.map((p) => `nats://127.0.0.1:${p.client}`);
  let observer: NatsEngine;
  try {
    observer = await retryTransient(() => connectEngine(urls, { name: 'cluster observer' }));
    // The connection's JetStream check passes before the metadata leader is known; an account info
    // request is answered only once it is.
    await retryTransient(() => observer.jsm.getAccountInfo());
  } catch (error) {
    await Promise.all(nodes.map((node) => node?.kill()));
    throw error;
  }

  const leaderOf = async (stream: string) => {
    const info = await retryTransient(() => observer.jsm.streams.info(stream));
    const name = info.cluster?.leader ?? '';
    const index = names.indexOf(name);
    if (index < 0) throw new Error(`stream ${stream} has no leader among ${names.join(', ')} (got ${JSON.stringify(name)})`);
    return { name, index };
  };

  return {
    urls,
    nodes,
    names,
    leaderOf,
    async killLeader(stream) {
      const leader = await leaderOf(stream);
      await nodes[leader.index]!.kill();
      nodes[leader.index] = undefined;
      return leader;
    },
    async restart(index) {
      if (nodes[index]) throw new Error(`node ${names[index]} is running`);
      const routes = ports.filter((_, i) => i !== index && nodes[i]).map((p) => `nats://127.0.0.1:${p.cluster}`);
      nodes[index] = await startNatsServer(path.join(dir, names[index]!), clusterArgs(index, routes, ports[index]));
    },
    async caughtUp(stream) {
      for (let attempt = 0; ; attempt++) {
        const info = await retryTransient(() => observer.jsm.streams.info(stream));
        const replicas = info.cluster?.replicas ?? [];
        if (info.cluster?.leader && replicas.length === names.length - 1 && replicas.every((r) => r.current && !r.offline)) return;
        if (attempt >= 600) throw new Error(`stream ${stream} did not catch up: ${JSON.stringify(info.cluster)}`);
        // Replicas report their state on the next request after they caught up; nothing else to wait on.
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async stop() {
      await observer.close();
      await Promise.all(nodes.map((node) => node?.stop()));
    },
  };
}
