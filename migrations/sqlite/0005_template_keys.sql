-- Face templates sealed at rest (docs/decisions/0007-template-encryption.md). Keep in step with
-- migrations/mysql/0005_template_keys.sql. `vector` then holds format byte, nonce, ciphertext
-- and tag; `key_id` names the key that sealed it. NULL: a template stored before this
-- migration, in the clear — the controller seals those at its next start.
ALTER TABLE faces ADD COLUMN key_id TEXT;
CREATE INDEX faces_key ON faces (key_id);
