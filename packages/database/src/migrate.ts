// Schema migrations with node-pg-migrate (plain SQL files in packages/database/migrations):
// a maintained runner that takes an advisory lock, so replicas starting together
// apply each migration once. The lock is waited for, not tried: with the default
// ('fail'), an operator starting next to an API (or another replica) died of
// "Another migration is already running" (found by the chaos suite).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';

export const migrationsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../migrations');

export async function migrate(databaseUrl: string, log: (message: string) => void = () => undefined): Promise<string[]> {
  const applied = await runner({
    databaseUrl,
    dir: migrationsDir,
    direction: 'up',
    migrationsTable: 'claude_operator_migrations',
    count: Infinity,
    advisoryLockMode: 'wait',
    log,
    verbose: false,
  });
  return applied.map((migration) => migration.name);
}
