/**
 * The dashboard's web server: the page and its assets, a Server-Sent Events stream that pushes
 * every collected snapshot (live, no polling or reloads), the kill-switch action, and the
 * monitor's own /metrics and /healthz. node:http is enough for four routes; SSE needs no
 * library either (one `text/event-stream` response kept open per browser).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import type { Registry } from 'prom-client';
import type { Logger } from '../obs/log.ts';
import type { DashboardState } from './collector.ts';

const WEB = new URL('./web/', import.meta.url);
const ASSETS: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

export interface KillSwitchRequest {
  scope: 'GLOBAL' | 'ACCOUNT';
  account: string;
  state: 'ACTIVE' | 'REDUCING' | 'HALTED';
  actor: string;
  reason: string;
}

export type KillSwitchResult = { ok: true; state: string } | { ok: false; status: number; message: string };

export interface DashboardServerOptions {
  host: string;
  port: number;
  registry: Registry;
  log: Logger;
  /** The latest snapshot (sent to a browser as soon as it connects). */
  snapshot: () => DashboardState;
  /** Forwards to the execution service's Admin API with the operator's token. */
  setKillSwitch: (token: string, request: KillSwitchRequest) => Promise<KillSwitchResult>;
}

const MAX_BODY = 16 * 1024;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
      if (body.length > MAX_BODY) {
        reject(new Error('request body too large'));
        req.destroy();
      }
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

/** Validates the kill-switch body; returns a reason when it is not acceptable. */
export function parseKillSwitchRequest(raw: unknown): KillSwitchRequest | string {
  if (typeof raw !== 'object' || raw === null) return 'body must be a JSON object';
  const r = raw as Record<string, unknown>;
  const scope = r.scope ?? 'GLOBAL';
  if (scope !== 'GLOBAL' && scope !== 'ACCOUNT') return 'scope must be GLOBAL or ACCOUNT';
  const account = typeof r.account === 'string' ? r.account.trim() : '';
  if (scope === 'ACCOUNT' && account === '') return 'account is required for scope ACCOUNT';
  if (scope === 'GLOBAL' && account !== '') return 'account must be empty for scope GLOBAL';
  if (r.state !== 'ACTIVE' && r.state !== 'REDUCING' && r.state !== 'HALTED') return 'state must be ACTIVE, REDUCING or HALTED';
  const actor = typeof r.actor === 'string' ? r.actor.trim() : '';
  const reason = typeof r.reason === 'string' ? r.reason.trim() : '';
  if (actor === '') return 'actor (who acts) is required';
  if (reason === '') return 'reason is required';
  return { scope, account, state: r.state, actor, reason };
}

export class DashboardServer {
  readonly #options: DashboardServerOptions;
  readonly #server: Server;
  readonly #clients = new Set<ServerResponse>();
  readonly #assets = new Map<string, Buffer>();
  #port = 0;
  #closing: Promise<void> | undefined;

  constructor(options: DashboardServerOptions) {
    this.#options = options;
    for (const [path, asset] of Object.entries(ASSETS)) this.#assets.set(path, readFileSync(new URL(asset.file, WEB)));
    this.#server = createServer((req, res) => {
      this.#route(req, res).catch((error: unknown) => {
        options.log.error('dashboard request failed', { url: req.url, error: error instanceof Error ? error.message : String(error) });
        if (!res.headersSent) json(res, 500, { error: 'internal error' });
        else res.end();
      });
    });
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `http://${this.#options.host}:${this.#port}/`;
  }

  get clients(): number {
    return this.#clients.size;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#options.port, this.#options.host, () => resolve());
    });
    this.#port = (this.#server.address() as AddressInfo).port;
  }

  /** Pushes a snapshot to every connected browser. */
  push(state: DashboardState): void {
    if (this.#clients.size === 0) return;
    const frame = `event: state\ndata: ${JSON.stringify(state)}\n\n`;
    for (const res of this.#clients) res.write(frame);
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const asset = ASSETS[path];
    if (req.method === 'GET' && asset) {
      res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-cache' });
      res.end(this.#assets.get(path));
      return;
    }
    if (req.method === 'GET' && path === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      res.write(`retry: 2000\nevent: state\ndata: ${JSON.stringify(this.#options.snapshot())}\n\n`);
      this.#clients.add(res);
      req.on('close', () => this.#clients.delete(res));
      return;
    }
    if (req.method === 'GET' && path === '/api/state') {
      json(res, 200, this.#options.snapshot());
      return;
    }
    if (req.method === 'POST' && path === '/api/kill-switch') {
      const auth = req.headers.authorization ?? '';
      const token = auth.startsWith('Bearer ') ? auth.slice(7).trim() : '';
      if (token === '') {
        this.#options.log.warn('kill switch refused: no admin token', { remote: req.socket.remoteAddress });
        json(res, 401, { error: 'an admin token is required to change the kill switch' });
        return;
      }
      let parsed: KillSwitchRequest | string;
      try {
        parsed = parseKillSwitchRequest(JSON.parse(await readBody(req)) as unknown);
      } catch (error) {
        parsed = `malformed JSON body: ${error instanceof Error ? error.message : String(error)}`;
      }
      if (typeof parsed === 'string') {
        json(res, 400, { error: parsed });
        return;
      }
      const result = await this.#options.setKillSwitch(token, parsed);
      if (result.ok) {
        this.#options.log.warn('kill switch changed from the dashboard', { ...parsed, state: result.state });
        json(res, 200, { state: result.state });
      } else {
        this.#options.log.warn('kill switch refused by the execution service', { ...parsed, status: result.status, message: result.message });
        json(res, result.status, { error: result.message });
      }
      return;
    }
    if (req.method === 'GET' && path === '/metrics') {
      const text = await this.#options.registry.metrics();
      res.writeHead(200, { 'content-type': this.#options.registry.contentType });
      res.end(text);
      return;
    }
    if (req.method === 'GET' && path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
      return;
    }
    json(res, 404, { error: `not found: ${path}` });
  }

  /** Ends the event streams and stops listening. Idempotent. */
  close(): Promise<void> {
    return (this.#closing ??= new Promise<void>((resolve) => {
      for (const res of this.#clients) res.end();
      this.#clients.clear();
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    }));
  }
}
