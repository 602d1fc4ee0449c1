-- Up Migration
-- Every attempt to deliver a task's completion webhook (spec.notify.webhooks[webhook_index])
-- for one CloudEvent (event_id: stable per task and phase). The operator's
-- notifications controller decides the next attempt from these rows alone, so a
-- restarted operator neither forgets an attempt nor repeats a delivered event.
CREATE TABLE claude_task_webhook_attempts (
  id             bigserial   PRIMARY KEY,
  task_uid       uuid        NOT NULL REFERENCES claude_tasks (uid) ON DELETE CASCADE,
  webhook_index  integer     NOT NULL,
  -- The URL as tried, without credentials or query (those may hold tokens).
  url            text        NOT NULL,
  event_id       text        NOT NULL,
  attempt        integer     NOT NULL,
  started_at     timestamptz NOT NULL,
  finished_at    timestamptz NOT NULL,
  -- delivered (2xx), retry (5xx, 408, 429, no answer), failed (given up: another 4xx, a refused URL, out of time)
  outcome        text        NOT NULL CHECK (outcome IN ('delivered', 'retry', 'failed')),
  response_code  integer,
  error          text,
  UNIQUE (task_uid, webhook_index, event_id, attempt)
);
CREATE INDEX claude_task_webhook_attempts_task ON claude_task_webhook_attempts (task_uid, webhook_index, attempt);

-- Down Migration
DROP TABLE claude_task_webhook_attempts;
