// Each task's runner gets a Redis user of its own (Redis ACL), so a runner can
// write its own task's events and nothing else: not another task's stream, not
// the operator's keys, no admin command. The operator creates the user before
// the task's pod exists, hands the runner its URL through the task's spec
// Secret, creates it again when Redis has lost it (ACLs live in memory), and
// deletes it when the task is finalized.
//
// The password is an HMAC of the task's uid under the operator's
// RUNNER_REDIS_ACL_SECRET: the operator can make the same user again at any
// time without storing or reading any password.
import crypto from 'node:crypto';
import type { Redis } from 'ioredis';
import { workloadStreamKeys } from '../../packages/contracts/src/event-stream.ts';
import { sessionRunnerRedisCommands } from '../../packages/contracts/src/pod-contract.ts';
import { sessionAnsweredKey, sessionControlChannel, sessionInboxKey, sessionTranscriptKey } from '../../packages/contracts/src/session-stream.ts';

export interface TaskIdentity {
  namespace: string;
  name: string;
  uid: string;
}

export interface RunnerRedisCredentials {
  username: string;
  password: string;
  /** RUNNER_REDIS_URL with this user and password in it. */
  url: string;
}

/**
 * What a runner does (runner/README.md): XADD, XREVRANGE and XRANGE on its
 * stream, GET of its persisted key, MULTI/EXEC around them, PUBLISH on its wake
 * and partial channels, and what ioredis sends on connecting (AUTH/HELLO, PING,
 * INFO for its ready check, CLIENT SETNAME).
 */
const runnerCommands = ['xadd', 'xrevrange', 'xrange', 'get', 'multi', 'exec', 'discard', 'publish', 'ping', 'info', 'hello', 'auth', 'client|setname'];

export class RunnerRedisUsers {
  private readonly redis: Redis;
  private readonly secret: string;
  private readonly runnerRedisUrl: string;

  constructor(options: { redis: Redis; secret: string; runnerRedisUrl: string }) {
    this.redis = options.redis;
    this.secret = options.secret;
    this.runnerRedisUrl = options.runnerRedisUrl;
  }

  credentialsFor(task: TaskIdentity, username = usernameFor(task.uid)): RunnerRedisCredentials {
    const password = crypto.createHmac('sha256', this.secret).update(`runner-redis:${task.uid}`).digest('hex');
    const url = new URL(this.runnerRedisUrl);
    url.username = username;
    url.password = password;
    return { username, password, url: url.toString() };
  }

  /** Creates the task's user, or makes it what it should be; idempotent. */
  async ensure(task: TaskIdentity): Promise<RunnerRedisCredentials> {
    const credentials = this.credentialsFor(task);
    await this.redis.call('ACL', 'SETUSER', credentials.username, ...aclRules(task, credentials.password));
    return credentials;
  }

  /** Deletes the task's user; a user already gone is fine. */
  async remove(task: Pick<TaskIdentity, 'uid'>): Promise<void> {
    await this.redis.call('ACL', 'DELUSER', usernameFor(task.uid));
  }

  /** A session's runner's user (sessionAclRules); idempotent. */
  async ensureSession(session: TaskIdentity): Promise<RunnerRedisCredentials> {
    const credentials = this.credentialsFor(session, sessionUsernameFor(session.uid));
    await this.redis.call('ACL', 'SETUSER', credentials.username, ...sessionAclRules(session, credentials.password));
    return credentials;
  }

  async removeSession(session: Pick<TaskIdentity, 'uid'>): Promise<void> {
    await this.redis.call('ACL', 'DELUSER', sessionUsernameFor(session.uid));
  }
}

export function usernameFor(taskUid: string): string {
  return `claude-task-${taskUid}`;
}

export function sessionUsernameFor(sessionUid: string): string {
  return `claude-session-${sessionUid}`;
}

/**
 * A session's runner: a task runner's commands on its events stream, plus its
 * inbox (the consumer group), the transcript (GET, SET) and, read only, the
 * persisted key and the answered hash (both are the operator's word); SUBSCRIBE
 * on its control channel. `%R~` (Redis 7) lets SET, allowed for the transcript,
 * not touch the read-only keys.
 */
export function sessionAclRules(session: TaskIdentity, password: string): string[] {
  const { namespace, name } = session;
  const keys = workloadStreamKeys('session', namespace, name);
  return [
    'reset', 'on',
    `#${crypto.createHash('sha256').update(password).digest('hex')}`,
    ...[keys.events, sessionInboxKey(namespace, name), sessionTranscriptKey(namespace, name)]
      .map((key) => `~${globEscape(key)}`),
    ...[keys.persisted, sessionAnsweredKey(namespace, name)].map((key) => `%R~${globEscape(key)}`),
    'resetchannels',
    ...[keys.wake, keys.partial, sessionControlChannel(namespace, name)]
      .map((channel) => `&${globEscape(channel)}`),
    '-@all', ...[...runnerCommands, ...sessionRunnerRedisCommands].map((command) => `+${command}`),
  ];
}

/** The ACL SETUSER rules: everything reset first, so an existing user ends up exactly so. */
export function aclRules(task: TaskIdentity, password: string): string[] {
  const keys = workloadStreamKeys('task', task.namespace, task.name);
  return [
    'reset', 'on',
    `#${crypto.createHash('sha256').update(password).digest('hex')}`,
    `~${globEscape(keys.events)}`, `~${globEscape(keys.persisted)}`,
    'resetchannels', `&${globEscape(keys.wake)}`, `&${globEscape(keys.partial)}`,
    '-@all', ...runnerCommands.map((command) => `+${command}`),
  ];
}

/** Redis ACL patterns are globs: a name with *, ?, [ or \ must match only itself. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
