-- Trove index schema, version 3: who may be a supernode, and the order of
-- each leaf's signed changes.

-- Keys the index accepts RegisterSupernode from: enrolled by the operator
-- (a standalone supernode) or promoted by the index (election). A revoked
-- key's registrations, renewals and batches are refused.
CREATE TABLE supernode_keys (
  supernode_id text PRIMARY KEY CHECK (supernode_id ~ '^[0-9a-f]{64}$'),
  public_key bytea NOT NULL CHECK (length(public_key) = 32),
  kind text NOT NULL CHECK (kind IN ('enrolled', 'promoted')),
  -- False for a promoted key the election may take back.
  permanent boolean NOT NULL DEFAULT true,
  revoked_at timestamptz,
  enrolled_by text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now()
);

-- The hex SHA-256 of the current registration's session token; RenewLease and
-- PublishDeltas must carry the token. NULL: registered without a key (only
-- when the index runs with supernode keys not required, in tests).
ALTER TABLE supernodes ADD COLUMN session_hash text;

-- Where each peer's chain of signed changes stands (index_server/
-- leaf_chain.h): the seq of the last change applied, the lowest seq a full
-- list may carry after the index withdrew the peer's sources, and whether
-- it did. Kept when the peer's sources go, so that nothing older than what
-- was applied can ever be replayed.
--
-- Sharding: keyed and read by peer_id only, in the writer's transaction;
-- distributable by peer_id.
CREATE TABLE peer_chains (
  peer_id text PRIMARY KEY,
  supernode_id text NOT NULL,
  last_seq bigint NOT NULL,
  full_floor bigint NOT NULL,
  withdrawn boolean NOT NULL DEFAULT false,
  -- Until when the peer's latest signed presence vouches for it; its
  -- sources are withdrawn by the index after that. A full list sets it to
  -- a grace period ahead when it is earlier.
  presence_until timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX peer_chains_supernode_id ON peer_chains (supernode_id);
