-- Creates the wardgate database and a user that authenticates by its Unix identity over the
-- local socket (unix_socket plugin): no password exists, so none can leak. Idempotent.
CREATE DATABASE IF NOT EXISTS wardgate CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'wardgate'@'localhost' IDENTIFIED VIA unix_socket;
GRANT ALL PRIVILEGES ON wardgate.* TO 'wardgate'@'localhost';
