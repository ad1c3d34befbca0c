-- Trove index schema, version 7: how long each peer has been known.
--
-- A source's vote on the name its cid shows counts against newcomers'
-- only once its peer has been known to the community for a while
-- (common/search/search_index.h), so each replica needs, per peer, when
-- the index first stored a source of it. Written once per peer and never
-- moved; kept when the peer's sources go, so that a peer coming back (or
-- moving to another supernode) keeps its age.
--
-- Sharding: keyed and read by peer_id only; distributable by peer_id.
CREATE TABLE peer_standing (
  peer_id text PRIMARY KEY,
  known_since timestamptz NOT NULL DEFAULT now()
);

-- Peers already sharing: known since their oldest source's last change
-- (the best this schema kept).
INSERT INTO peer_standing (peer_id, known_since)
  SELECT peer_id, min(updated_at) FROM sources GROUP BY peer_id;
