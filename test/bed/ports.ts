// Free loopback ports for the servers the test bed starts.
import net from 'node:net';

/** Asks the kernel for a free port on 127.0.0.1. Another process could take it
 * before we bind it; the callers start servers right away, and the ports the
 * kernel hands out rotate, so a clash is rare and shows as a failed start. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('no port from listen(0)'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}
