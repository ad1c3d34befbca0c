-- Trove index schema, version 6: what the supernode election did, for the
-- operator's supernode map (promoted X at T, demoted Y at T, retired Z).

-- One row per change of a supernode key's role: 'promoted' and 'demoted'
-- by an election round, 'retired' when the election revoked a promoted key
-- (drained, or never came up), 'revoked' when an operator did. Only the
-- newest rows are kept (the election round trims the rest).
CREATE TABLE election_events (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  event text NOT NULL
    CHECK (event IN ('promoted', 'demoted', 'retired', 'revoked')),
  supernode_id text NOT NULL
);
