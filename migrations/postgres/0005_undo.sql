-- Undo (version 1.1): kept file versions, the trash, and what a purge removes. The same
-- tables as migrations/sqlite/0005_undo.sql.
--
-- `entries.deleted_by` names the trash item a deleted entry belongs to: the id of the
-- entry the user deleted (a folder deleted as a whole is one item, its subtree rows point
-- to it). `file_versions` holds every content a file has had, the current one included;
-- `replaced_at` is when a version stopped being current, from which its retention runs.

ALTER TABLE entries ADD COLUMN deleted_by TEXT;

-- Entries deleted before this migration become trash items: an entry deleted at the same
-- moment as its parent went with it, any other deleted entry is an item of its own.
UPDATE entries SET deleted_by = id
 WHERE deleted_at IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM entries p
                    WHERE p.id = entries.parent_id AND p.deleted_at = entries.deleted_at);
UPDATE entries SET deleted_by = (
    SELECT r.id FROM entries r
     WHERE r.user_id = entries.user_id AND r.deleted_by = r.id
       AND r.deleted_at = entries.deleted_at
       AND starts_with(entries.path_key, r.path_key || '/')
     ORDER BY length(r.path_key) DESC LIMIT 1)
 WHERE deleted_at IS NOT NULL AND deleted_by IS NULL;
UPDATE entries SET deleted_by = id WHERE deleted_at IS NOT NULL AND deleted_by IS NULL;

CREATE INDEX entries_trash ON entries(user_id, deleted_by) WHERE deleted_by IS NOT NULL;
CREATE INDEX entries_trash_items ON entries(user_id, deleted_at, id COLLATE "C") WHERE deleted_by = id;
CREATE INDEX entries_trash_expiry ON entries(deleted_at) WHERE deleted_by = id;

CREATE TABLE file_versions (
    file_id      TEXT NOT NULL REFERENCES entries(id),
    version      BIGINT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users(id),
    size         BIGINT NOT NULL,
    mime_type    TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    blob_key     TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    replaced_at  BIGINT,
    PRIMARY KEY (file_id, version)
);
CREATE INDEX file_versions_expiry ON file_versions(replaced_at) WHERE replaced_at IS NOT NULL;

-- Every file's current content is its newest version.
INSERT INTO file_versions (file_id, version, user_id, size, mime_type, content_hash, blob_key, created_at)
SELECT id, version, user_id, size, mime_type, content_hash, blob_key, updated_at
  FROM entries WHERE kind = 1;
