-- Console accounts (people, not tokens). Keep in step with migrations/sqlite/0003_console_users.sql.
-- Only an argon2id PHC string is stored, never a password.
CREATE TABLE console_users (
    id            VARCHAR(64)  NOT NULL PRIMARY KEY,
    name          VARCHAR(64)  NOT NULL,
    role          VARCHAR(16)  NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    created_ms    BIGINT       NOT NULL,
    updated_ms    BIGINT       NOT NULL,
    last_login_ms BIGINT NULL,
    disabled_ms   BIGINT NULL,
    UNIQUE KEY console_users_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
