-- Moves and renames (POST /api/v1/entries/{id}/move). A move is one change-log row whose
-- op is 'move'; it remembers the entry's path before the move, for /delta's "from_path".
-- Rows written before this migration have no old path (NULL): they are never moves.
--
-- A move rewrites the paths below a folder with one range over the case-folded paths
-- (path_key >= 'old/' AND path_key < 'old0'). path_key has the "C" collation, so the
-- existing index entries_live_path (user_id, path_key) WHERE deleted_at IS NULL is in
-- bytewise order and serves that range as it is (what text_pattern_ops would give a
-- column of another collation); server/tests/repository.rs checks the plan.
ALTER TABLE changes ADD COLUMN from_path TEXT;
