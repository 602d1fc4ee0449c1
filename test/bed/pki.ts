// Certificates and keys for one control plane, made with openssl: a CA, the
// apiserver's serving certificate, its client certificate towards kubelets, and
// the service-account signing key pair. issueClientCert signs more client
// certificates with the same CA (a kubelet's, for the real node), issueServingCert
// serving ones (Kueue's webhooks on loopback).
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
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
  /** The apiserver's identity towards kubelets (logs, exec): in system:masters. */
  kubeletClientCert: string;
  kubeletClientKey: string;
}

/** The CA's key sits beside its certificate. */
export function caKeyFileFor(caCertFile: string): string {
  return path.join(path.dirname(caCertFile), 'ca.key');
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
    caKey: caKeyFileFor(file('ca.crt')),
    apiserverCert: file('apiserver.crt'),
    apiserverKey: file('apiserver.key'),
    serviceAccountKey: file('sa.key'),
    serviceAccountPub: file('sa.pub'),
    kubeletClientCert: file('apiserver-kubelet-client.crt'),
    kubeletClientKey: file('apiserver-kubelet-client.key'),
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
  await issueClientCert({ caCert: pki.caCert, caKey: pki.caKey }, {
    certFile: pki.kubeletClientCert, keyFile: pki.kubeletClientKey,
    commonName: 'kube-apiserver-kubelet-client', organizations: ['system:masters'],
  });
  return pki;
}

export interface ClientCertRequest {
  certFile: string;
  keyFile: string;
  /** The Kubernetes user name. */
  commonName: string;
  /** The Kubernetes groups. */
  organizations: string[];
}

/** A client certificate (and its key) signed by the CA, for x509 authentication. */
export async function issueClientCert(ca: { caCert: string; caKey: string }, request: ClientCertRequest): Promise<void> {
  const subject = [...request.organizations.map((o) => `/O=${o}`), `/CN=${request.commonName}`].join('');
  await issueCert(ca, request.certFile, request.keyFile, subject, 'extendedKeyUsage=clientAuth\n');
}

/** A serving certificate (and its key) signed by the CA, for a server the apiserver calls
 * (a webhook on loopback). `altNames` as openssl takes them: `IP:127.0.0.1`, `DNS:localhost`. */
export async function issueServingCert(ca: { caCert: string; caKey: string },
  request: { certFile: string; keyFile: string; commonName: string; altNames: string[] }): Promise<void> {
  await issueCert(ca, request.certFile, request.keyFile, `/CN=${request.commonName}`,
    `subjectAltName=${request.altNames.join(',')}\nextendedKeyUsage=serverAuth\n`);
}

async function issueCert(ca: { caCert: string; caKey: string }, certFile: string, keyFile: string, subject: string,
  extensions: string): Promise<void> {
  const csr = `${certFile}.csr`;
  const ext = `${certFile}.ext`;
  await fs.writeFile(ext, `${extensions}keyUsage=digitalSignature,keyEncipherment\n`);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', subject, '-keyout', keyFile, '-out', csr]);
  // A serial of its own (not the CA's serial file): certificates may be issued concurrently.
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', ca.caCert, '-CAkey', ca.caKey,
    '-set_serial', `0x${crypto.randomBytes(8).toString('hex')}`, '-days', '30', '-extfile', ext, '-out', certFile]);
  await Promise.all([fs.rm(csr), fs.rm(ext)]);
}
