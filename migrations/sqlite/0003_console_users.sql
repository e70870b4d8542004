-- Console accounts (people, not tokens). Keep in step with migrations/mysql/0003_console_users.sql.
-- Only an argon2id PHC string is stored, never a password.
CREATE TABLE console_users (
    id            TEXT PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_ms    INTEGER NOT NULL,
    updated_ms    INTEGER NOT NULL,
    last_login_ms INTEGER,
    disabled_ms   INTEGER
);
