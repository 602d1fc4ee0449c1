// An open stream socket: closing it for sure, and waiting until the client has taken what it was sent.
import { WebSocket } from 'ws';

/** A close frame, and the socket destroyed if the client does not answer it in time. */
export function closeSocket(ws: WebSocket, code: number, reason: string, graceMs: number): void {
  if (ws.readyState === WebSocket.CLOSED) return;
  // A close reason may be at most 123 bytes.
  ws.close(code, Buffer.from(reason).subarray(0, 123).toString());
  setTimeout(() => ws.terminate(), graceMs).unref();
}

export function waitForDrain(ws: WebSocket, bytes: number, stallMs: number): Promise<boolean> {
  const deadline = Date.now() + stallMs;
  return new Promise((resolve) => {
    const check = () => {
      if (ws.readyState !== WebSocket.OPEN) resolve(false);
      else if (ws.bufferedAmount <= bytes) resolve(true);
      else if (Date.now() >= deadline) resolve(false);
      else setTimeout(check, 10);
    };
    check();
  });
}
