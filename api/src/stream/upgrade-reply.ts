// Refusing a WebSocket upgrade: a plain HTTP answer written on the raw socket
// (there is no response object at 'upgrade'), then the socket goes. The body is
// the same application/problem+json, with the same problem types, as every REST
// error (http/problem.ts).
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Problem } from '../http/problem.ts';

export function refuseUpgrade(socket: Duplex, problem: Problem, instance?: string, extraHeaders: Record<string, string> = {}): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(problem.body(instance));
  const headers = [
    `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status] ?? ''}`,
    'Connection: close',
    'Content-Type: application/problem+json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries({ ...extraHeaders, ...problem.headers }).map(([name, value]) => `${name}: ${value}`),
  ];
  // Destroyed once the answer is flushed, never upgraded.
  socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`, () => socket.destroy());
}
