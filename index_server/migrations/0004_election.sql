-- Trove index schema, version 4: peers' capacity reports, for the
-- supernode election, and demoted supernodes draining.

-- The latest signed capacity report of each peer, and what the index found
-- when it dialled the peer back (reachable only for probed_address).
CREATE TABLE peer_reports (
  peer_id text PRIMARY KEY CHECK (peer_id ~ '^[0-9a-f]{64}$'),
  public_key bytea NOT NULL CHECK (length(public_key) = 32),
  address text NOT NULL,
  upload_bytes_per_second bigint NOT NULL DEFAULT 0,
  uptime_seconds bigint NOT NULL DEFAULT 0,
  free_memory_bytes bigint NOT NULL DEFAULT 0,
  -- The supernode it said it is joined to ('' none).
  supernode_id text NOT NULL DEFAULT '',
  -- The supernode it runs in-process ('' none).
  supernode_address text NOT NULL DEFAULT '',
  issued_at_ms bigint NOT NULL,
  reported_at timestamptz NOT NULL DEFAULT now(),
  reachable boolean NOT NULL DEFAULT false,
  probed_address text NOT NULL DEFAULT '',
  probed_at timestamptz
);
CREATE INDEX peer_reports_reported_at ON peer_reports (reported_at);

-- A demoted supernode serves its leaves until they moved, then its key is
-- revoked; Bootstrap no longer offers it meanwhile.
ALTER TABLE supernode_keys ADD COLUMN draining_since timestamptz;
