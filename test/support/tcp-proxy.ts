// A TCP proxy in front of a real server, for outage tests: cut() makes the
// server unreachable the way a crashed or partitioned one is (new connections
// refused, open ones reset), restore() brings it back on the same port.
import net from 'node:net';

export interface TcpProxy {
  /** The port clients connect to (stays the same across cut and restore). */
  port: number;
  /** Refuses new connections and destroys the open ones. */
  cut(): Promise<void>;
  /** Accepts connections again. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

/** listenPort 0: any free port. */
export async function startTcpProxy(target: { host: string; port: number }, listenHost = '127.0.0.1', listenPort = 0): Promise<TcpProxy> {
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket.on('close', () => open.delete(socket));
      // Either side failing ends both, as a broken connection would.
      socket.on('error', () => { client.destroy(); upstream.destroy(); });
    }
    client.pipe(upstream).pipe(client);
  });
  const listen = (port: number) => new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, listenHost, () => { server.off('error', reject); resolve(); });
  });
  await listen(listenPort);
  const port = (server.address() as net.AddressInfo).port;
  const stop = () => new Promise<void>((resolve) => {
    if (!server.listening) { resolve(); return; }
    server.close(() => resolve());
    for (const socket of open) socket.destroy();
  });
  return {
    port,
    cut: stop,
    restore: async () => { if (!server.listening) await listen(port); },
    close: stop,
  };
}

/** The URL with its host and port replaced by the proxy's. */
export function viaProxy(url: string, proxy: TcpProxy): string {
  const parsed = new URL(url);
  if (parsed.searchParams.has('host')) throw new Error(`cannot proxy ${parsed.protocol} over a unix socket (host= in the URL)`);
  parsed.hostname = '127.0.0.1';
  parsed.port = String(proxy.port);
  return parsed.toString();
}
