// Errors that say whether trying again (a new attempt of the task) could help,
// and which exit code the runner ends with. The codes are part of the contract
// with the operator (runner/README.md).

export const exitCodes = {
  succeeded: 0,
  /** The CLI or the model failed: API errors, max turns, the CLI crashed. A retry may help. */
  taskFailed: 1,
  /** Bad configuration or spec (env, spec file, key file, prompt variables). A retry will not help. */
  invalid: 2,
  /** The workspace could not be prepared (git clone/checkout). A retry may help. */
  workspaceFailed: 3,
  /** The run cost more than spec.maxBudgetUSD. A retry would spend it again. */
  budgetExceeded: 4,
  /** Stopped by SIGTERM (cancel, timeout, eviction): 128 + 15, as a shell would report it. */
  cancelled: 143,
} as const;

export abstract class RunnerError extends Error {
  abstract readonly retryable: boolean;
  abstract readonly exitCode: number;
}

/** The pod was set up wrongly or the spec cannot run; the same attempt again would fail the same way. */
export class ConfigError extends RunnerError {
  readonly retryable = false;
  readonly exitCode = exitCodes.invalid;
}

export class WorkspaceError extends RunnerError {
  readonly retryable = true;
  readonly exitCode = exitCodes.workspaceFailed;
}

/** The run was stopped by a signal while it was preparing. */
export class CancelledError extends RunnerError {
  readonly retryable = false;
  readonly exitCode = exitCodes.cancelled;
}
