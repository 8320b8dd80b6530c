#!/usr/bin/env bash
# Nightly backup: one pg_dump custom-format file per run, older ones removed after
# BACKUP_KEEP_DAYS. Copy BACKUP_DIR off the machine (another site) as well.
set -euo pipefail
: "${DATABASE_URL:?DATABASE_URL must be set (see deploy/.env.example)}"
dir="${BACKUP_DIR:-/var/backups/hailong}"
keep="${BACKUP_KEEP_DAYS:-30}"
mkdir -p "$dir"
# pg_dump speaks libpq URLs; SQLAlchemy's driver suffix (postgresql+psycopg://) is not one.
url="${DATABASE_URL/postgresql+psycopg:/postgresql:}"
out="$dir/hailong-$(date -u +%Y%m%dT%H%M%SZ).dump"
pg_dump --format=custom --no-owner --file="$out.partial" "$url"
mv "$out.partial" "$out"
pg_restore --list "$out" >/dev/null  # the archive is readable
find "$dir" -name 'hailong-*.dump' -mtime "+$keep" -delete
echo "backup written: $out ($(du -h "$out" | cut -f1))"
