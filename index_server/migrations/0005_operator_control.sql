-- Trove index schema, version 4: operator control.

-- Admin tokens of the AdminService. Only the hex SHA-256 of each token is
-- kept; the token itself is shown once, when it is made.
CREATE TABLE admin_tokens (
  token_id text PRIMARY KEY,
  token_hash text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
  role text NOT NULL CHECK (role IN ('admin', 'moderator', 'viewer')),
  label text NOT NULL DEFAULT '',
  created_by text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);

-- Peers the operator banned: their changes and presences are refused, and
-- supernodes learn the list with their lease renewals.
CREATE TABLE bans (
  peer_id text PRIMARY KEY CHECK (peer_id ~ '^[0-9a-f]{64}$'),
  reason text NOT NULL,
  created_by text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Content ids taken down: gone from search and Locate, never stored from
-- a publish. Sharding: small, a reference table.
CREATE TABLE takedowns (
  cid text PRIMARY KEY CHECK (cid ~ '^[0-9a-f]{64}$'),
  reason text NOT NULL,
  created_by text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now()
);

-- One row per admin action, and per refused admin call: who (the token's
-- id and role, never the token), what, on what, why, and how it ended.
CREATE TABLE audit_log (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  token_id text NOT NULL DEFAULT '',
  role text NOT NULL DEFAULT '',
  action text NOT NULL,
  target text NOT NULL DEFAULT '',
  reason text NOT NULL DEFAULT '',
  result text NOT NULL
);
