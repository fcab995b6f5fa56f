-- Refresh-token families. Every token rotated from one login carries the login's family
-- and the time the session began: a rotated token presented again (after a short grace)
-- revokes its whole family, and no session outlives its absolute lifetime.
-- Tokens issued before this migration each start a family of their own, begun now.
ALTER TABLE refresh_tokens ADD COLUMN family_id TEXT;
ALTER TABLE refresh_tokens ADD COLUMN session_started_at BIGINT;
-- Set when the token was replaced by a successor (retired_at alone: logged out or revoked).
ALTER TABLE refresh_tokens ADD COLUMN rotated_at BIGINT;
UPDATE refresh_tokens
   SET family_id = token_hash,
       session_started_at = (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT
 WHERE family_id IS NULL;
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);
