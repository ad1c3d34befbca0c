-- Trove index schema, version 9: a page of a typical peer stays in its row.
--
-- With the default TOAST target (about 2 KiB) a page of a hundred entries
-- (3.2 KB of cids, several KB of names) was split on every write: its
-- names compressed with pglz, then its cids and often its names moved to
-- the TOAST table, two to four more tuples (and TOAST index entries, and
-- their WAL) per page. Keeping rows of up to a heap page inline makes one
-- tuple of such a page; names are still compressed when the row would not
-- fit, and pages of thousands of entries still go to the TOAST table.
ALTER TABLE peer_pages SET (toast_tuple_target = 8160);

-- lz4 compresses names at a fraction of pglz's CPU cost. PostgreSQL 13
-- has no per-column compression, and one built without lz4 refuses the
-- setting: pglz stays then.
DO $$
BEGIN
  IF current_setting('server_version_num')::int >= 140000 THEN
    EXECUTE 'ALTER TABLE peer_pages ALTER COLUMN names SET COMPRESSION lz4';
  END IF;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
  RAISE NOTICE 'lz4 is not available; peer_pages.names keeps pglz';
END
$$;
