// Every manifest in examples/ parses, says on top what it shows, and its
// ClaudeTasks pass the resource model (the API's validation). Whether the
// apiserver takes them, CRD rules included, is test/e2e/examples.e2e.test.ts.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { loadAllYaml } from '@kubernetes/client-node';
import type { z } from 'zod';
import { ClaudeCronTaskSpecSchema, claudeCronTaskKind } from '../crds/src/claude-cron-task.ts';
import { ClaudeTaskTemplateSpecSchema, claudeTaskTemplateKind } from '../crds/src/claude-task-template.ts';
import { ClaudeTaskSpecSchema, claudeTaskKind, group, version } from '../crds/src/claude-task.ts';
import { ClaudeSessionSpecSchema, claudeSessionKind } from '../crds/src/claude-session.ts';
import { repoRoot } from './bed/binaries.ts';

const examplesDir = path.join(repoRoot, 'examples');
const files = fs.readdirSync(examplesDir).filter((file) => file.endsWith('.yaml')).sort();

interface Manifest { apiVersion?: string; kind?: string; metadata?: { name?: string }; spec?: unknown }

test('the examples are there', () => {
  expect(files).toEqual(expect.arrayContaining(['task.yaml', 'git-workspace.yaml', 'pvc-workspace.yaml', 'mcp-server.yaml', 'configmap-prompt.yaml', 'template.yaml', 'cron-task.yaml', 'session.yaml']));
});

describe.each(files)('examples/%s', (file) => {
  const text = fs.readFileSync(path.join(examplesDir, file), 'utf8');
  const manifests = loadAllYaml(text) as Manifest[];

  test('starts with a comment that says how to apply it and what it needs (the API key Secret)', () => {
    const comment = /^(#.*\n)+/.exec(text)?.[0] ?? '';
    expect(comment).toMatch(/kubectl apply -f examples\//);
    expect(comment).toMatch(/anthropic-api-key/);
  });

  test('holds one ClaudeTask, ClaudeCronTask or ClaudeSession, each of the project\'s objects with a spec the resource model accepts, and objects with a kind and a name', () => {
    expect(manifests.every((m) => typeof m.apiVersion === 'string' && typeof m.kind === 'string' && typeof m.metadata?.name === 'string')).toBe(true);
    expect(manifests.filter((m) => m.kind === claudeTaskKind || m.kind === claudeCronTaskKind || m.kind === claudeSessionKind)).toHaveLength(1);
    const models: Record<string, z.ZodType> = {
      [claudeTaskKind]: ClaudeTaskSpecSchema, [claudeCronTaskKind]: ClaudeCronTaskSpecSchema, [claudeTaskTemplateKind]: ClaudeTaskTemplateSpecSchema,
      [claudeSessionKind]: ClaudeSessionSpecSchema,
    };
    for (const manifest of manifests.filter((m) => m.apiVersion?.startsWith(`${group}/`))) {
      expect(manifest.apiVersion).toBe(`${group}/${version}`);
      const parsed = models[manifest.kind ?? '']?.safeParse(manifest.spec);
      expect(parsed && (parsed.success ? [] : parsed.error.issues)).toEqual([]);
    }
  });
});
