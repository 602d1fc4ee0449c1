// The runner process of a session's pod, found from the host as a person on the
// node would (ps, /proc): on the bed's local node it is a host process, on the real
// node it runs in the pod's container under tini, and both have the pod's environment.
import fs from 'node:fs/promises';
import path from 'node:path';

/** The pid (in the host's pid namespace) of the `node …/runner/src/main.ts` process running this session. */
export async function sessionRunnerPid(namespace: string, session: string): Promise<number> {
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const read = (file: string) => fs.readFile(`/proc/${entry}/${file}`, 'utf8').catch(() => '');
    const [environ, cmdline] = [await read('environ'), await read('cmdline')];
    const [command, ...args] = cmdline.split('\0');
    const env = environ.split('\0');
    // Not tini (PID 1 in the container), whose command line names the runner too.
    if (path.basename(command ?? '') === 'node' && args.some((arg) => arg.endsWith('runner/src/main.ts'))
      && env.includes(`CLAUDE_SESSION_NAME=${session}`) && env.includes(`CLAUDE_SESSION_NAMESPACE=${namespace}`)) return Number(entry);
  }
  throw new Error(`no runner process for session ${namespace}/${session}`);
}
