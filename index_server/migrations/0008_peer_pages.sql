-- Trove index schema, version 8: each peer's sources in pages.
--
-- One row per source (a text cid, a primary key on (cid, peer_id), indexes
-- on peer_id and supernode_id, and a `files` row per cid) cost several
-- random b-tree inserts per published file, and held ingest below 20k
-- files a second even through COPY. Search and Locate are served from
-- each replica's memory, so PostgreSQL needs no lookup by cid: it keeps
-- each peer's list in pages of up to 2048 entries, one row per page, and
-- a batch writes one row per page it touches (docs/decisions.md).
--
-- A page holds parallel arrays: `cids` packs the raw 32-byte content ids
-- one after another, and names[i], sizes[i] (the size the peer announced)
-- and partial[i] describe the i-th. A cid appears at most once in a peer's
-- pages. The peer's supernode and address are those of its `peers` row.
-- Pages of a peer are numbered from 0 without meaning: new entries go to
-- the highest page while it has room.
--
-- Sharding: keyed and read by peer_id (distributable by peer_id, with
-- `peers`); lookups by cid are served from memory.
CREATE TABLE peer_pages (
  peer_id text NOT NULL,
  page integer NOT NULL CHECK (page >= 0),
  cids bytea NOT NULL,
  names text[] NOT NULL,
  sizes bigint[] NOT NULL,
  partial boolean[] NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (peer_id, page),
  CHECK (length(cids) = 32 * cardinality(names)
         AND cardinality(names) = cardinality(sizes)
         AND cardinality(names) = cardinality(partial)
         AND cardinality(names) > 0),
  CHECK (0 <= ALL (sizes)),
  CHECK ('' <> ALL (names))
);
-- Content ids are random: compressing them only costs the writer.
ALTER TABLE peer_pages ALTER COLUMN cids SET STORAGE EXTERNAL;

INSERT INTO peer_pages (peer_id, page, cids, names, sizes, partial, updated_at)
  SELECT peer_id, (n - 1) / 2048,
         string_agg(decode(cid, 'hex'), ''::bytea ORDER BY n),
         array_agg(name ORDER BY n), array_agg(size ORDER BY n),
         array_agg(partial ORDER BY n), max(updated_at)
  FROM (SELECT s.peer_id, s.cid, s.name, f.size, s.partial, s.updated_at,
               row_number() OVER (PARTITION BY s.peer_id ORDER BY s.cid) AS n
        FROM sources s JOIN files f ON f.cid = s.cid
        JOIN peers p ON p.peer_id = s.peer_id) AS numbered
  GROUP BY peer_id, (n - 1) / 2048;

DROP TABLE sources;
DROP TABLE files;

-- The entries of one page, in order (1-based `i`).
CREATE FUNCTION trove_page_entries(cids bytea, names text[], sizes bigint[],
                                   partial boolean[])
  RETURNS TABLE (i bigint, cid text, name text, size bigint, partial boolean)
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT e.i, encode(substring(cids FROM (e.i - 1)::int * 32 + 1 FOR 32), 'hex'),
           e.name, e.size, e.partial
    FROM unnest(names, sizes, partial) WITH ORDINALITY AS e(name, size, partial, i)
  $$;

-- The former tables as views, for SQL readers (tests, operators). They
-- unpack every page: fine for a peer's rows, a full scan for a cid's.
CREATE VIEW sources AS
  SELECT e.cid, p.peer_id, pe.supernode_id, pe.address, e.name, e.partial,
         p.updated_at, e.size
  FROM peer_pages p JOIN peers pe ON pe.peer_id = p.peer_id
  CROSS JOIN LATERAL trove_page_entries(p.cids, p.names, p.sizes, p.partial) e;

-- A file is known while some source holds it; its size is the one most
-- of them announced.
CREATE VIEW files AS
  SELECT cid, mode() WITHIN GROUP (ORDER BY size) AS size
  FROM sources GROUP BY cid;
