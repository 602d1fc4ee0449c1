// Schema migrations with node-pg-migrate (plain SQL files in packages/database/migrations):
// a maintained runner that takes an advisory lock, so replicas starting together
// apply each migration once.
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
    log,
    verbose: false,
  });
  return applied.map((migration) => migration.name);
}
