// Runs the scripted Messages API as a process, for the test bed and `npm run up`:
//   node test/scripted-api/main.ts [--port N] [--host H] [--api-key K]
// Prints one JSON line {"url": ...} on stdout once listening; stops on SIGTERM/SIGINT.
import { parseArgs } from 'node:util';
import { startScriptedApi } from './server.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'api-key': { type: 'string' },
  },
});

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`--port: not a port: ${values.port}`);
  process.exit(2);
}

const api = await startScriptedApi({ port, host: values.host, apiKey: values['api-key'] });
console.log(JSON.stringify({ url: api.url, port: api.port }));

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void api.close().then(() => process.exit(0));
  });
}
