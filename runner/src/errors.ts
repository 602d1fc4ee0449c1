// Errors that say whether trying again (a new attempt of the task) could help,
// and which exit code the runner ends with. The codes are part of the contract
// with the operator (packages/contracts/src/pod-contract.ts, runner/README.md).
import { runnerExitCodes } from '../../packages/contracts/src/pod-contract.ts';

export abstract class RunnerError extends Error {
  abstract readonly retryable: boolean;
  abstract readonly exitCode: number;
}

/** The pod was set up wrongly or the spec cannot run; the same attempt again would fail the same way. */
export class ConfigError extends RunnerError {
  readonly retryable = false;
  readonly exitCode = runnerExitCodes.invalid;
}

export class WorkspaceError extends RunnerError {
  readonly retryable = true;
  readonly exitCode = runnerExitCodes.workspaceFailed;
}

/** The run was stopped by a signal while it was preparing. */
export class CancelledError extends RunnerError {
  readonly retryable = false;
  readonly exitCode = runnerExitCodes.cancelled;
}
