// Refusing a WebSocket upgrade: a plain HTTP answer written on the raw socket
// (there is no response object at 'upgrade'), then the socket goes. The body is
// application/problem+json like every other API error.
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

export const problemTypeBase = 'https://claude-operator.io/problems/';

export interface UpgradeProblem {
  status: number;
  /** The stable last part of the problem `type`, e.g. `unauthenticated`. */
  type: string;
  title: string;
  detail?: string;
}

export function refuseUpgrade(socket: Duplex, problem: UpgradeProblem): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify({ type: problemTypeBase + problem.type, title: problem.title, status: problem.status, detail: problem.detail });
  const headers = [
    `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status] ?? ''}`,
    'Connection: close',
    'Content-Type: application/problem+json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...(problem.status === 401 ? ['WWW-Authenticate: Bearer'] : []),
  ];
  // Destroyed once the answer is flushed, never upgraded.
  socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`, () => socket.destroy());
}
