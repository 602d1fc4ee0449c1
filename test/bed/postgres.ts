// A fresh PostgreSQL database for one test bed: DATABASE_URL when the caller gives
// one, otherwise a database of our own on the local server, dropped by close().
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { waitFor } from './process.ts';

const execFileAsync = promisify(execFile);

export const TEST_DATABASE_PREFIX = 'claude_operator_test_';

export interface ProvisionedPostgres {
  url: string;
  /** Drops the database we created; nothing for DATABASE_URL. Idempotent. */
  close(): Promise<void>;
}

/** Where a local server answers, best first. TCP first because that URL also
 * works for clients that cannot use a unix socket (the Go control plane in a pod);
 * the socket as the current OS user covers Debian's default peer authentication
 * once that user has a role (test/bed/prerequisites.sh creates it). */
export function localAdminUrls(osUser: string = os.userInfo().username): string[] {
  const socket = encodeURIComponent('/var/run/postgresql');
  return [
    'postgres://postgres@127.0.0.1:5432/postgres',
    `postgres://postgres@localhost/postgres?host=${socket}`,
    `postgres://${encodeURIComponent(osUser)}@localhost/postgres?host=${socket}`,
  ];
}

/** Unique per process and call, so parallel test beds never share a database. */
export function uniqueDatabaseName(pid: number = process.pid): string {
  return `${TEST_DATABASE_PREFIX}${pid}_${randomBytes(4).toString('hex')}`;
}

/** The same server and credentials as `url`, but database `name`. */
export function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(name)}`;
  return parsed.toString();
}

export async function provisionPostgres({ logDir }: { logDir: string }): Promise<ProvisionedPostgres> {
  const given = process.env.DATABASE_URL;
  if (given) return { url: given, close: async () => {} };

  const failures = new Map<string, string>();
  const adminUrl = (await reachableAdminUrl(failures)) ?? (await startLocalCluster(logDir, failures));
  const name = uniqueDatabaseName();
  await withClient(adminUrl, (client) => client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`));
  let closing: Promise<void> | undefined;
  return {
    url: withDatabase(adminUrl, name),
    close() {
      // FORCE: a test that leaked a connection must not keep its database alive.
      closing ??= withClient(adminUrl, (client) =>
        client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`),
      ).then(() => undefined);
      return closing;
    },
  };
}

async function withClient<T>(url: string, use: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  // A server that goes away mid-test emits 'error'; the failing query reports it.
  client.on('error', () => {});
  try {
    await client.connect();
    return await use(client);
  } finally {
    // Also after a failed connect: a client that gave up during authentication
    // (no password for SCRAM) leaves its socket open otherwise, and the backend
    // waiting on it blocks DROP DATABASE until authentication_timeout.
    await client.end().catch(() => {});
  }
}

/** The first admin URL that answers; records why the others did not in `failures`. */
async function reachableAdminUrl(failures: Map<string, string>): Promise<string | undefined> {
  for (const url of localAdminUrls()) {
    try {
      await withClient(url, (client) => client.query('SELECT 1'));
      return url;
    } catch (error) {
      failures.set(url, error instanceof Error ? error.message : String(error));
    }
  }
  return undefined;
}

export interface Cluster {
  version: string;
  name: string;
  port: string;
  status: string;
}

/** The rows of `pg_lsclusters --no-header`: version, name, port, status, owner, dirs. */
export function parseClusters(listing: string): Cluster[] {
  return listing
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length >= 4)
    .map(([version = '', name = '', port = '', status = '']) => ({ version, name, port, status }));
}

/** The clusters to start: only the one on 5432, where localAdminUrls() look,
 * because others may be down on purpose. */
export function clustersToStart(clusters: Cluster[]): Cluster[] {
  return clusters.filter((cluster) => cluster.port === '5432' && cluster.status.startsWith('down'));
}

/** Debian's clusters (postgresql-common), or undefined when it is not installed. */
async function debianClusters(): Promise<Cluster[] | undefined> {
  try {
    const { stdout } = await execFileAsync('pg_lsclusters', ['--no-header']);
    return parseClusters(stdout);
  } catch {
    return undefined;
  }
}

async function startLocalCluster(logDir: string, failures: Map<string, string>): Promise<string> {
  const clusters = await debianClusters();
  const down = clustersToStart(clusters ?? []);
  if (down.length === 0) throw notReachable(clusters, failures);

  await fs.mkdir(logDir, { recursive: true });
  const logFile = path.join(logDir, 'postgres-start.log');
  for (const { version, name } of down) {
    // --skip-systemctl-redirect: containers and CI machines have no systemd.
    const args = ['--skip-systemctl-redirect', version, name, 'start'];
    try {
      const { stdout, stderr } = await execFileAsync('pg_ctlcluster', args);
      await fs.appendFile(logFile, `$ pg_ctlcluster ${args.join(' ')}\n${stdout}${stderr}`);
    } catch (error) {
      const output = error instanceof Error ? error.message : String(error);
      await fs.appendFile(logFile, `$ pg_ctlcluster ${args.join(' ')}\n${output}\n`);
      throw new Error(
        `PostgreSQL cluster ${version}/${name} is down and could not be started (${output.trim()}). ` +
          `Run as root: pg_ctlcluster --skip-systemctl-redirect ${version} ${name} start`,
        { cause: error },
      );
    }
  }
  let adminUrl: string | undefined;
  await waitFor(
    'the local PostgreSQL server to accept connections',
    async () => (adminUrl = await reachableAdminUrl(failures)) !== undefined,
    { timeoutMs: 30_000, intervalMs: 500 },
  ).catch(async () => {
    throw notReachable(await debianClusters(), failures);
  });
  if (adminUrl === undefined) throw notReachable(await debianClusters(), failures);
  return adminUrl;
}

function notReachable(clusters: Cluster[] | undefined, failures: Map<string, string>): Error {
  const tried = [...failures].map(([url, message]) => `  ${url}: ${message}`).join('\n');
  const help =
    clusters === undefined
      ? 'Install and start PostgreSQL (as root): apt-get install -y postgresql && ' +
        'pg_ctlcluster --skip-systemctl-redirect <version> main start ' +
        '(or run: bash test/bed/prerequisites.sh)'
      : clusters.length === 0
        ? 'PostgreSQL is installed but has no cluster. As root: pg_createcluster <version> main --start ' +
          '(or run: bash test/bed/prerequisites.sh)'
        : `Clusters: ${clusters.map((c) => `${c.version}/${c.name} ${c.status}`).join(', ')}. ` +
          'The server runs but refuses us: allow user postgres on 127.0.0.1, or give the current OS user a role ' +
          '(as root: bash test/bed/prerequisites.sh)';
  return new Error(
    `No PostgreSQL for the test bed: DATABASE_URL is not set and no local server accepted a connection.\n${tried}\n${help}; ` +
      'or set DATABASE_URL to a server where the user may CREATE DATABASE.',
  );
}
