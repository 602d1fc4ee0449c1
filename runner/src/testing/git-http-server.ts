// For tests: bare repositories over smart HTTP, as a git host serves them. A tiny
// node server on 127.0.0.1 that requires Basic auth and hands each request to
// `git http-backend` (CGI).
import { execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';

export interface GitHttpServer {
  /** http://127.0.0.1:<port> */
  url: string;
  /** Authorization headers seen, "none" when a request had none. */
  authorizations: string[];
  close(): Promise<void>;
}

export async function startGitHttpServer(options: { projectRoot: string; username: string; password: string }): Promise<GitHttpServer> {
  const execPath = (await promisify(execFile)('git', ['--exec-path'])).stdout.trim();
  const backend = path.join(execPath, 'git-http-backend');
  const expected = Buffer.from(`Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`);
  const authorizations: string[] = [];

  const server = http.createServer((req, res) => {
    const given = req.headers.authorization;
    authorizations.push(given ?? 'none');
    const ok = given !== undefined && Buffer.byteLength(given) === expected.length && crypto.timingSafeEqual(Buffer.from(given), expected);
    if (!ok) {
      req.resume();
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"', 'Content-Type': 'text/plain' }).end('unauthorized\n');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const header = (name: string) => {
      const value = req.headers[name];
      return typeof value === 'string' ? value : '';
    };
    const child = spawn(backend, [], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        GIT_PROJECT_ROOT: options.projectRoot,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.replace(/^\?/, ''),
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: header('content-type'),
        REMOTE_USER: options.username,
        REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
        HTTP_CONTENT_ENCODING: header('content-encoding'),
        GIT_PROTOCOL: header('git-protocol'),
      },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    req.pipe(child.stdin);
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.on('close', () => {
      const out = Buffer.concat(chunks);
      const end = out.indexOf('\r\n\r\n');
      const [headEnd, bodyStart] = end >= 0 ? [end, end + 4] : [out.indexOf('\n\n'), out.indexOf('\n\n') + 2];
      if (headEnd < 0) {
        res.writeHead(500).end('git http-backend wrote no headers\n');
        return;
      }
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of out.subarray(0, headEnd).toString('latin1').split(/\r?\n/)) {
        const colon = line.indexOf(':');
        if (colon < 0) continue;
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
        else headers[name] = value;
      }
      res.writeHead(status, headers).end(out.subarray(bodyStart));
    });
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    authorizations,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
