-- Up Migration
-- Every mutating call to the API server: who made it, for which tenant, what it
-- asked for, on what, and how it ended. Written by the API after each response.
CREATE TABLE api_audit (
  id           bigserial   PRIMARY KEY,
  at           timestamptz NOT NULL DEFAULT now(),
  request_id   text        NOT NULL,
  -- NULL when the call was not authenticated.
  subject      text,
  tenant       text,
  role         text,
  method       text        NOT NULL,
  -- What was asked: task.create, task.cancel, task.delete, stream-ticket.issue, or the raw path when no route matched.
  action       text        NOT NULL,
  namespace    text,
  name         text,
  status       integer     NOT NULL,
  -- success (2xx), denied (401, 403, 404, 429), rejected (other 4xx), error (5xx)
  outcome      text        NOT NULL,
  duration_ms  integer     NOT NULL,
  client_ip    text
);
CREATE INDEX api_audit_tenant_at ON api_audit (tenant, at);
CREATE INDEX api_audit_target ON api_audit (namespace, name);

-- Down Migration
DROP TABLE api_audit;
