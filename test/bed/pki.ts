// Certificates and keys for one control plane, made with openssl: a CA, the
// apiserver's serving certificate, and the service-account signing key pair.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ControlPlanePki {
  caCert: string;
  caKey: string;
  apiserverCert: string;
  apiserverKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
}

/** Names the apiserver answers to: loopback, and the in-cluster names of the
 * `kubernetes` Service (its cluster IP is the first of 10.0.0.0/24). */
const apiserverNames = [
  'IP:127.0.0.1',
  'IP:10.0.0.1',
  'DNS:localhost',
  'DNS:kubernetes',
  'DNS:kubernetes.default',
  'DNS:kubernetes.default.svc',
  'DNS:kubernetes.default.svc.cluster.local',
];

export async function makePki(dir: string): Promise<ControlPlanePki> {
  await fs.mkdir(dir, { recursive: true });
  const file = (name: string) => path.join(dir, name);
  const pki: ControlPlanePki = {
    caCert: file('ca.crt'),
    caKey: file('ca.key'),
    apiserverCert: file('apiserver.crt'),
    apiserverKey: file('apiserver.key'),
    serviceAccountKey: file('sa.key'),
    serviceAccountPub: file('sa.pub'),
  };
  const days = '30';
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', days,
    '-subj', '/CN=claude-operator-test-ca', '-keyout', pki.caKey, '-out', pki.caCert]);
  await fs.writeFile(file('apiserver.ext'),
    `subjectAltName=${apiserverNames.join(',')}\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n`);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=kube-apiserver',
    '-keyout', pki.apiserverKey, '-out', file('apiserver.csr')]);
  await run('openssl', ['x509', '-req', '-in', file('apiserver.csr'), '-CA', pki.caCert, '-CAkey', pki.caKey,
    '-CAcreateserial', '-days', days, '-extfile', file('apiserver.ext'), '-out', pki.apiserverCert]);
  await run('openssl', ['genrsa', '-out', pki.serviceAccountKey, '2048']);
  await run('openssl', ['rsa', '-in', pki.serviceAccountKey, '-pubout', '-out', pki.serviceAccountPub]);
  return pki;
}
