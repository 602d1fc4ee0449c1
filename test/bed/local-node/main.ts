// Runs the local node until SIGTERM/SIGINT:
//   node test/bed/local-node/main.ts --kubeconfig F --node-name N --pods-dir D
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { LocalNode } from './local-node.ts';

const { values } = parseArgs({
  options: {
    kubeconfig: { type: 'string' },
    'node-name': { type: 'string', default: 'local-node' },
    'pods-dir': { type: 'string' },
  },
});
if (!values.kubeconfig || !values['pods-dir']) {
  console.error('usage: main.ts --kubeconfig FILE --pods-dir DIR [--node-name NAME]');
  process.exit(2);
}
const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(values.kubeconfig);
const node = new LocalNode({
  kubeConfig,
  nodeName: values['node-name'],
  podsDir: values['pods-dir'],
  log: (message, fields) => console.log(JSON.stringify({ time: new Date().toISOString(), message, ...fields })),
});
await node.start();
console.log(JSON.stringify({ time: new Date().toISOString(), message: 'local node ready', node: values['node-name'] }));
const shutdown = () => void node.stop().finally(() => process.exit(0));
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
