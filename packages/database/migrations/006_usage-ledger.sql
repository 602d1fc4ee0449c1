-- Up Migration
-- Who created each task and session (claude-operator.io/created-by), so usage can be
-- charged to a user after the object itself is gone.
ALTER TABLE claude_tasks ADD COLUMN created_by text;
ALTER TABLE claude_sessions ADD COLUMN created_by text;

-- The usage ledger: one row per run of a task (part '') and per answered turn of a
-- session (part = the message id), written in the transaction that stores the usage,
-- so budgets, /api/v1/usage and the metrics all sum the same rows. No foreign key:
-- chargeback outlives the history's rows.
CREATE TABLE claude_usage (
  workload_kind                text          NOT NULL CHECK (workload_kind IN ('ClaudeTask', 'ClaudeSession')),
  workload_uid                 uuid          NOT NULL,
  part                         text          NOT NULL DEFAULT '',
  namespace                    text          NOT NULL,
  name                         text          NOT NULL,
  -- NULL when the creator is unknown (an object made before the identity policy).
  user_name                    text,
  model                        text,
  -- The UTC day the usage was reported: budgets' Daily and Monthly periods are UTC.
  day                          date          NOT NULL,
  input_tokens                 bigint        NOT NULL DEFAULT 0,
  output_tokens                bigint        NOT NULL DEFAULT 0,
  cache_read_input_tokens      bigint        NOT NULL DEFAULT 0,
  cache_creation_input_tokens  bigint        NOT NULL DEFAULT 0,
  cost_usd                     numeric(18,6) NOT NULL DEFAULT 0,
  recorded_at                  timestamptz   NOT NULL DEFAULT now(),
  PRIMARY KEY (workload_kind, workload_uid, part)
);
CREATE INDEX claude_usage_namespace_day ON claude_usage (namespace, day);
CREATE INDEX claude_usage_user_day ON claude_usage (user_name, day);

-- Down Migration
DROP TABLE claude_usage;
ALTER TABLE claude_sessions DROP COLUMN created_by;
ALTER TABLE claude_tasks DROP COLUMN created_by;
