-- Up Migration
-- One row per ClaudeSession (by uid). The operator writes it; the API writes it too,
-- minimally, when it accepts a session's first message before the operator has.
CREATE TABLE claude_sessions (
  uid            uuid        PRIMARY KEY,
  namespace      text        NOT NULL,
  name           text        NOT NULL,
  spec           jsonb       NOT NULL,
  status         jsonb       NOT NULL DEFAULT '{}'::jsonb,
  phase          text        NOT NULL,
  created_at     timestamptz NOT NULL,
  -- Set once every event is stored and no message waits; the finalizer waits for it.
  finalized_at   timestamptz,
  updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX claude_sessions_namespace_name ON claude_sessions (namespace, name);

-- The session's events, as they were in its Redis stream: one gap-free seq across turns and pods.
CREATE TABLE claude_session_events (
  session_uid  uuid        NOT NULL REFERENCES claude_sessions (uid) ON DELETE CASCADE,
  seq          bigint      NOT NULL,
  message_id   text,
  type         text        NOT NULL,
  data         jsonb       NOT NULL,
  time         timestamptz NOT NULL,
  PRIMARY KEY (session_uid, seq)
);
CREATE INDEX claude_session_events_message ON claude_session_events (session_uid, message_id, seq);

-- Every message the API accepted, in the order it accepted them (position), and its answer.
-- state: accepted (waits or runs), answered, interrupted, failed; the answer is written
-- by the operator, in the transaction that stores the turn's runner.turn_completed.
CREATE TABLE claude_session_messages (
  session_uid      uuid        NOT NULL REFERENCES claude_sessions (uid) ON DELETE CASCADE,
  message_id       text        NOT NULL,
  position         bigserial,
  text             text        NOT NULL,
  idempotency_key  text,
  requested_by     text,
  accepted_at      timestamptz NOT NULL,
  state            text        NOT NULL DEFAULT 'accepted' CHECK (state IN ('accepted', 'answered', 'interrupted', 'failed')),
  result           text,
  stop_reason      text,
  error            text,
  usage            jsonb,
  first_seq        bigint,
  last_seq         bigint,
  answered_at      timestamptz,
  PRIMARY KEY (session_uid, message_id)
);
CREATE INDEX claude_session_messages_position ON claude_session_messages (session_uid, position);

-- The CLI's session transcript after the last completed turn: restored on a volume that lost it.
CREATE TABLE claude_session_transcripts (
  session_uid        uuid        PRIMARY KEY REFERENCES claude_sessions (uid) ON DELETE CASCADE,
  claude_session_id  text        NOT NULL,
  content            text        NOT NULL,
  -- The seq of the runner.turn_completed it was stored with.
  through_seq        bigint      NOT NULL,
  updated_at         timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE claude_session_transcripts;
DROP TABLE claude_session_messages;
DROP TABLE claude_session_events;
DROP TABLE claude_sessions;
