-- Optional second login factor (RFC 6238 TOTP) per console account. Keep in step with
-- migrations/sqlite/0004_console_totp.sql. The base32 shared secret must be readable to check
-- codes, so it is not hashed; NULL: the account logs in with its password alone.
ALTER TABLE console_users ADD COLUMN totp_secret VARCHAR(64) NULL;
