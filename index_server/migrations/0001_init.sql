-- Trove index schema, version 1.
--
-- Sharding: `files` and `sources` are keyed by cid and are meant to be
-- Citus distributed tables co-located on cid, so a search or a locate joins
-- them shard-locally; `supernodes` is small and would be a reference table;
-- `peers` is bookkeeping, distributable by peer_id, and no read path joins
-- it. Reads never need anything but these tables, so they can run on a
-- streaming replica.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Supernodes and their leases. A supernode's sources count only while
-- lease_expires is in the future (the database's clock, shared by all index
-- replicas).
CREATE TABLE supernodes (
  supernode_id text PRIMARY KEY,
  address text NOT NULL,
  lease_expires timestamptz NOT NULL,
  leaf_count integer NOT NULL DEFAULT 0,
  upload_bytes_per_second bigint NOT NULL DEFAULT 0,
  uptime_seconds bigint NOT NULL DEFAULT 0,
  reachable boolean NOT NULL DEFAULT false,
  free_memory_bytes bigint NOT NULL DEFAULT 0,
  registered_at timestamptz NOT NULL DEFAULT now(),
  renewed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX supernodes_lease_expires ON supernodes (lease_expires);

-- Peers that published through a supernode, and where to reach them.
CREATE TABLE peers (
  peer_id text PRIMARY KEY,
  address text NOT NULL,
  supernode_id text NOT NULL,
  last_seen timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX peers_supernode_id ON peers (supernode_id);

-- One row per content id. last_seen moves whenever a source announces the
-- file, so the orphan collector never races a concurrent announcement.
CREATE TABLE files (
  cid text PRIMARY KEY CHECK (cid ~ '^[0-9a-f]{64}$'),
  size bigint NOT NULL CHECK (size >= 0),
  first_seen timestamptz NOT NULL DEFAULT now(),
  last_seen timestamptz NOT NULL DEFAULT now()
);

-- Who shares what under which name. The peer's address is copied here so
-- that locating a cid reads one shard.
CREATE TABLE sources (
  cid text NOT NULL,
  peer_id text NOT NULL,
  supernode_id text NOT NULL,
  address text NOT NULL,
  name text NOT NULL CHECK (name <> ''),
  -- lower(NormalizeName(name)): words separated by single spaces.
  norm_name text NOT NULL,
  -- Lowercase extension without the dot; '' when none.
  ext text NOT NULL DEFAULT '',
  partial boolean NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (cid, peer_id)
);
CREATE INDEX sources_peer_id ON sources (peer_id);
CREATE INDEX sources_supernode_id ON sources (supernode_id);
CREATE INDEX sources_norm_name_trgm ON sources USING gin (norm_name gin_trgm_ops);
CREATE INDEX sources_norm_name_fts ON sources
  USING gin (to_tsvector('simple'::regconfig, norm_name));
