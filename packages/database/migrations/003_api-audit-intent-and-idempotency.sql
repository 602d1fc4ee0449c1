-- Up Migration
-- The API writes the audit row of a mutating call BEFORE the call does anything
-- (outcome 'pending', no status yet) and completes it once the response is done.
-- A call whose row cannot be written is refused (503), so no mutation goes
-- unaudited. A row still pending later means the call ran but its outcome could
-- not be recorded (Postgres went away during it).
ALTER TABLE api_audit ALTER COLUMN status DROP NOT NULL;
ALTER TABLE api_audit ALTER COLUMN duration_ms DROP NOT NULL;
ALTER TABLE api_audit ADD COLUMN completed_at timestamptz;
CREATE INDEX api_audit_request ON api_audit (request_id);

-- Idempotency-Key of POST calls, per caller (tenant and subject) for 24 h: the
-- first answer, replayed for a retry with the same key and the same request.
CREATE TABLE api_idempotency (
  tenant       text        NOT NULL,
  subject      text        NOT NULL,
  key          text        NOT NULL,
  -- SHA-256 of the method, the path and the body: the same key with another request is 422.
  fingerprint  text        NOT NULL,
  -- NULL while the first call is in progress (another one with the key is then 409).
  status       integer,
  -- The fields of the answer that are replayed (Location, Content-Type).
  headers      jsonb,
  body         text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  PRIMARY KEY (tenant, subject, key)
);
CREATE INDEX api_idempotency_expires ON api_idempotency (expires_at);

-- Down Migration
DROP TABLE api_idempotency;
DROP INDEX api_audit_request;
ALTER TABLE api_audit DROP COLUMN completed_at;
UPDATE api_audit SET status = 0 WHERE status IS NULL;
UPDATE api_audit SET duration_ms = 0 WHERE duration_ms IS NULL;
ALTER TABLE api_audit ALTER COLUMN duration_ms SET NOT NULL;
ALTER TABLE api_audit ALTER COLUMN status SET NOT NULL;
