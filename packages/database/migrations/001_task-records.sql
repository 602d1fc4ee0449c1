-- Up Migration
-- One row per ClaudeTask (by uid: a task recreated with the same name is another task).
CREATE TABLE claude_tasks (
  uid            uuid PRIMARY KEY,
  namespace      text        NOT NULL,
  name           text        NOT NULL,
  spec           jsonb       NOT NULL,
  status         jsonb       NOT NULL DEFAULT '{}'::jsonb,
  phase          text        NOT NULL,
  result         text,
  created_at     timestamptz NOT NULL,
  completed_at   timestamptz,
  -- Set once the final status and every event are stored; the finalizer waits for it.
  finalized_at   timestamptz,
  updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX claude_tasks_namespace_name ON claude_tasks (namespace, name);
CREATE INDEX claude_tasks_phase ON claude_tasks (phase);

-- Every phase a task entered, in order.
CREATE TABLE claude_task_transitions (
  id          bigserial   PRIMARY KEY,
  task_uid    uuid        NOT NULL REFERENCES claude_tasks (uid) ON DELETE CASCADE,
  from_phase  text,
  to_phase    text        NOT NULL,
  reason      text,
  message     text,
  at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX claude_task_transitions_task ON claude_task_transitions (task_uid, id);

-- The runner's events, as they were in the task's Redis stream (seq is gap-free).
CREATE TABLE claude_task_events (
  task_uid  uuid        NOT NULL REFERENCES claude_tasks (uid) ON DELETE CASCADE,
  seq       bigint      NOT NULL,
  type      text        NOT NULL,
  data      jsonb       NOT NULL,
  time      timestamptz NOT NULL,
  PRIMARY KEY (task_uid, seq)
);

-- Down Migration
DROP TABLE claude_task_events;
DROP TABLE claude_task_transitions;
DROP TABLE claude_tasks;
