#!/usr/bin/env bash
# Makes sure a MariaDB server answers on 127.0.0.1:3306 for the store tests: installs it from
# Debian when missing, starts it when stopped, and drops databases left by interrupted tests;
# installs galera-4 and rsync for the Galera cluster test.
# Idempotent and quiet when everything is already in place.
set -euo pipefail

log() { printf 'setup-mariadb: %s\n' "$*" >&2; }

if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
  log "installing mariadb-server from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq mariadb-server mariadb-client >/dev/null
fi

# The Galera test (tests/galera.rs) starts its own three-node cluster on loopback ports: it
# needs the Galera provider and rsync (the state transfer of a joining node). The server on
# 3306 is left as it is.
if [ ! -e /usr/lib/galera/libgalera_smm.so ] || ! command -v rsync >/dev/null 2>&1; then
  log "installing galera-4 and rsync from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq galera-4 rsync >/dev/null
fi

ping_db() { mariadb -uroot -h127.0.0.1 -P3306 -e 'SELECT 1' >/dev/null 2>&1; }

if ! ping_db; then
  log "starting mariadbd"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  if [ ! -d /var/lib/mysql/mysql ]; then
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  fi
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql --bind-address=127.0.0.1
  for _ in $(seq 1 60); do ping_db && break; sleep 0.5; done
fi
if ! ping_db; then
  # A fresh install may leave root on unix_socket auth only: allow the empty password on TCP.
  mariadb -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket; FLUSH PRIVILEGES;" 2>/dev/null || true
fi
ping_db || { log "MariaDB does not answer on 127.0.0.1:3306"; exit 1; }

# Throwaway databases of interrupted test runs.
leftovers=$(mariadb -uroot -h127.0.0.1 -N -e "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'wardgate\_t\_%'")
for db in $leftovers; do mariadb -uroot -h127.0.0.1 -e "DROP DATABASE \`$db\`"; done
