// The import boundaries of eslint.config.js, run through ESLint's own API on
// small samples placed (by filePath) inside each folder.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { ESLint } from 'eslint';

const repoRoot = path.dirname(fileURLToPath(import.meta.url));
const eslint = new ESLint({ cwd: repoRoot });

// Loading the config and typescript-eslint once takes seconds on a busy machine; the samples are quick after.
beforeAll(async () => {
  await eslint.lintText('', { filePath: path.join(repoRoot, 'operator/src/sample.ts') });
}, 60_000);

/** The no-restricted-imports messages for `code` as if it were the file at `file`. */
async function boundaryViolations(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(repoRoot, file) });
  return (result?.messages ?? []).filter((message) => message.ruleId === 'no-restricted-imports').map((message) => message.message);
}

describe('a deployable imports no other deployable', () => {
  it.each([
    ['operator/src/sample.ts', "import { migrate } from '../../api/src/server.ts';"],
    ['operator/src/sample.ts', "import type { RunnerConfig } from '../../runner/src/config.ts';"],
    ['operator/src/kube/sample.ts', "export { backoffDelay } from '../../../runner/src/event-publisher.ts';"],
    ['api/src/stream/sample.ts', "import { makeLogger } from '../../../operator/src/main.ts';"],
    ['api/src/sample.ts', "import '../../runner/src/main.ts';"],
    ['runner/src/sample.ts', "import { desiredJob } from '../../operator/src/desired-job.ts';"],
    ['runner/src/testing/sample.ts', "import { startApiServer } from '../../../api/src/server.ts';"],
  ])('%s: %s is refused', async (file, code) => {
    const [message, ...more] = await boundaryViolations(file, code);
    expect(more).toEqual([]);
    expect(message).toMatch(/may not import a deployable .*: move what both need to packages\/ \(contracts, platform, database\) or crds\//);
  });

  it.each([
    ['operator/src/sample.ts', "import { parseStreamEntry } from '../../packages/contracts/src/event-stream.ts';"],
    ['operator/src/sample.ts', "import type { ClaudeTask } from '../../crds/src/claude-task.ts';"],
    ['operator/src/kube/sample.ts', "import { systemClock } from '../../../packages/platform/src/clock.ts';\nimport { WorkQueue } from './work-queue.ts';"],
    ['api/src/tasks/sample.ts', "import { readEventLog } from '../../../packages/database/src/task-records.ts';\nimport { Problem } from '../http/problem.ts';"],
    ['runner/src/sample.ts', "import { podEnv } from '../../packages/contracts/src/pod-contract.ts';\nimport { loadConfig } from './config.ts';"],
    // Tests may import the deployables they test.
    ['operator/src/desired-job.test.ts', "import { loadConfig } from '../../runner/src/config.ts';"],
    ['api/src/stream/ws-server.int.test.ts', "import { EventPublisher } from '../../../runner/src/event-publisher.ts';"],
    ['test/e2e/sample.e2e.test.ts', "import { startTestApi } from '../../api/src/test-support.ts';"],
    ['test/bench/sample.ts', "import { EventPublisher } from '../../runner/src/event-publisher.ts';"],
  ])('%s: %s is allowed', async (file, code) => {
    expect(await boundaryViolations(file, code)).toEqual([]);
  });
});

describe('a shared package imports no deployable', () => {
  it.each([
    ['packages/contracts/src/sample.ts', "import { exitCodes } from '../../../runner/src/errors.ts';"],
    ['packages/database/src/sample.ts', "import type { OperatorConfig } from '../../../operator/src/config.ts';"],
    ['packages/platform/src/sample.test.ts', "import { createApp } from '../../../api/src/app.ts';"],
    ['crds/src/sample.ts', "import { jobNameFor } from '../../operator/src/names.ts';"],
    ['crds/sample.test.ts', "import { startApiServer } from '../api/src/server.ts';"],
  ])('%s: %s is refused', async (file, code) => {
    expect(await boundaryViolations(file, code)).toEqual([expect.stringMatching(/A shared package may not import a deployable \(operator\/, api\/, runner\/\)/)]);
  });

  it.each([
    ['packages/contracts/src/sample.ts', "import { UsageSchema } from '../../../crds/src/claude-task.ts';\nimport { outcomes } from './task-events.ts';"],
    ['packages/database/src/sample.ts', "import type { TaskEventRecord } from '../../contracts/src/task-events.ts';"],
    ['crds/src/sample.ts', "import { statusCode } from '../../packages/platform/src/kube-errors.ts';"],
    ['packages/database/src/sample.int.test.ts', "import { bedSetting } from '../../../test/support/cluster.ts';"],
  ])('%s: %s is allowed', async (file, code) => {
    expect(await boundaryViolations(file, code)).toEqual([]);
  });
});
