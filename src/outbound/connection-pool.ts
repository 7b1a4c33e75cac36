import http from 'node:http';
import https from 'node:https';
import type { CheckedTarget } from './url-guard.js';

/**
 * Keep-alive connections for outgoing webhooks, one agent per *checked address*: a socket is reused only
 * by an attempt whose own URL check (run again on every attempt) resolved to the very address the socket
 * is connected to. So pooling keeps the SSRF guarantees of a fresh connection — no socket outlives the
 * check it was made under, and a name that now resolves elsewhere gets a pool of its own.
 */
export interface ConnectionPool {
  /** The agent for this target's scheme, host name (SNI, certificate) and checked address. */
  agentFor(target: CheckedTarget): http.Agent;
  /** Closes every pooled connection, in use or idle: call it once nothing is in flight any more. */
  close(): void;
}

export interface ConnectionPoolOptions {
  /**
   * An idle connection is closed after this long (default 4 s): below the 5 s keep-alive timeout of
   * Node's HTTP server (and most others), so we close first instead of writing into a closing socket.
   */
  idleMs?: number;
  /** Agents kept at most (default 256); the least recently used idle one goes first. */
  maxAgents?: number;
}

export function createConnectionPool(options: ConnectionPoolOptions = {}): ConnectionPool {
  const idleMs = options.idleMs ?? 4000;
  const maxAgents = options.maxAgents ?? 256;
  // Map order is recency: a used agent is moved to the end.
  const agents = new Map<string, http.Agent>();

  function evict(): void {
    for (const [key, agent] of agents) {
      if (agents.size <= maxAgents) return;
      // Only agents with no request in flight: destroy() would cut them off.
      if (Object.keys(agent.sockets).length > 0) continue;
      agents.delete(key);
      agent.destroy();
    }
  }

  return {
    agentFor(target) {
      const key = `${target.url.protocol}//${target.hostname}:${target.url.port}@${target.address}`;
      let agent = agents.get(key);
      if (agent) {
        agents.delete(key);
      } else {
        const settings = { keepAlive: true, timeout: idleMs, scheduling: 'lifo' as const };
        agent = target.url.protocol === 'https:' ? new https.Agent(settings) : new http.Agent(settings);
      }
      agents.set(key, agent);
      if (agents.size > maxAgents) evict();
      return agent;
    },
    close() {
      for (const agent of agents.values()) agent.destroy();
      agents.clear();
    },
  };
}
