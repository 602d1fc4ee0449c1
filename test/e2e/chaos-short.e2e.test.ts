// The chaos suite's short versions (test/chaos, issue 12), each against one
// stack of its own, as `bash test/chaos/run.sh --scale short` runs them: every
// row must be clean (nothing lost or duplicated, the fault's own goal met).
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { settleWithin } from '../bed/process.ts';
import { startStack, type Stack } from '../bed/stack.ts';
import { Cleanups, recentLog } from '../bench/support.ts';
import { isClean, type Fault } from '../chaos/fault.ts';
import { apiSigkillFault } from '../chaos/faults/api-sigkill.ts';
import { apiserverRestartFault } from '../chaos/faults/apiserver-restart.ts';
import { badInputFault } from '../chaos/faults/bad-input.ts';
import { jwtAttacksFault } from '../chaos/faults/jwt-attacks.ts';
import { operatorSigkillFault } from '../chaos/faults/operator-sigkill.ts';
import { postgresDownFault } from '../chaos/faults/postgres-down.ts';
import { redisRestartFault } from '../chaos/faults/redis-restart.ts';
import { runnerRedisCutFault } from '../chaos/faults/runner-redis-cut.ts';
import { readStackEnvironments, type StackEnvironments } from '../chaos/replicas.ts';

let stack: Stack;
let environments: StackEnvironments;
const cleanups = new Cleanups();
// A fault that overruns fails with its last progress lines a minute before jest would time it out
// (a CI run on f05e17f timed one out at 600 s, and said nothing about where it was).
const faultTimeoutMs = 720_000;

beforeAll(async () => {
  stack = await startStack();
  environments = readStackEnvironments(stack.settings);
}, 240_000);

afterAll(async () => {
  await cleanups.runAll();
  await stack?.stop();
}, 120_000);

test.each<[string, Fault]>([
  ['1: the leading operator of 2 SIGKILLed during a burst: one Job and one terminal transition per task, Postgres agrees', operatorSigkillFault],
  ['2: Redis SIGKILLed and back empty under followers: no event lost or duplicated, for followers or in Postgres', redisRestartFault],
  ['3: Postgres unreachable while tasks run and clients submit: nothing accepted lost or unaudited, not ready meanwhile, Postgres catches up', postgresDownFault],
  ['4: the API SIGKILLed under WebSocket followers: every follower gets every event once', apiSigkillFault],
  ['5: kube-apiserver restarted mid-burst, etcd kept: no task stuck, no relist storm', apiserverRestartFault],
  ['7: the runners\' path to Redis cut: they buffer and flush, each task Succeeds with every event', runnerRedisCutFault],
  ['8: zzuf-mutated requests and frames: no 5xx, no crash', badInputFault],
  ['9: JWT attacks over REST and the upgrade: all refused, a valid token accepted', jwtAttacksFault],
])('fault %s', async (_name, fault) => {
  const running = fault.run({ settings: stack.settings, reused: true, restartApiserver: (downMs) => stack.restartApiserver(downMs), environments }, 'short', cleanups);
  const overrunMs = faultTimeoutMs - 60_000;
  // Jest's own timeout says nothing of where the fault was.
  const result = await settleWithin(running, overrunMs, () => {
    throw new Error(`fault ${fault.number} (${fault.name}) still running after ${overrunMs / 1000} s; its last progress lines:\n${recentLog().join('\n')}`);
  });
  expect({ ...result, clean: isClean(result) }).toEqual(expect.objectContaining({ clean: true }));
}, faultTimeoutMs);
