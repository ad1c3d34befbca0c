-- Trove index schema, version 2: search is served from memory.
--
-- Each index replica keeps the catalog's names in memory and answers
-- searches there, so PostgreSQL keeps only what writes, point lookups
-- (Locate) and the change log need. The GIN indexes for names, and the
-- columns they indexed, go: they slowed every write several times over.
DROP INDEX IF EXISTS sources_norm_name_trgm;
DROP INDEX IF EXISTS sources_norm_name_fts;
ALTER TABLE sources DROP COLUMN IF EXISTS norm_name;
ALTER TABLE sources DROP COLUMN IF EXISTS ext;

-- The change log: every transaction that changes which sources exist
-- writes one row, numbered without gaps in commit order (writers take an
-- advisory lock and the next number from catalog_head), and NOTIFYs
-- trove_catalog. Replicas replay the rows in order to keep their memory
-- current, and catch up from here after falling behind or restarting.
-- `change` is a serialized trove.index_server.CatalogChange. Old rows are
-- trimmed; the newest is always kept.
--
-- Sharding: the log is small, written once per batch and read in order by
-- every replica; under Citus it stays on the coordinator (a local table)
-- while files and sources are distributed by cid.
CREATE TABLE catalog_head (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  seq bigint NOT NULL
);
INSERT INTO catalog_head (seq) VALUES (0);

CREATE TABLE catalog_log (
  seq bigint PRIMARY KEY,
  logged_at timestamptz NOT NULL DEFAULT now(),
  change bytea NOT NULL
);
CREATE INDEX catalog_log_logged_at ON catalog_log (logged_at);
-- Entries are written once and read a few times: not compressed, which
-- costs the writer less CPU than it saves on disk.
ALTER TABLE catalog_log ALTER COLUMN change SET STORAGE EXTERNAL;

-- Which registration of a supernode is current, and the last batch applied
-- from it. A registration starts a new generation; a batch carries its
-- generation and a number that grows with every attempt, and is refused
-- when a later one was already applied or its generation is over. So a
-- batch whose sender gave up on it can never land after a later change.
CREATE TABLE supernode_batches (
  supernode_id text PRIMARY KEY,
  generation bigint NOT NULL,
  last_batch bigint NOT NULL DEFAULT 0
);
