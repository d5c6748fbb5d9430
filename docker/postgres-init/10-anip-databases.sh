#!/usr/bin/env bash
# One login role and one database per service, each role owning its database (the migrations
# need nothing more: the Registry's pg_trgm is a trusted extension the owner may create).
#
# The postgres image runs this once, on the first start with an empty data volume
# (/docker-entrypoint-initdb.d). Passwords come from docker/.env through compose; changing
# them later needs `ALTER ROLE ... PASSWORD` (docker/README.md). It may be sourced rather than
# executed, so it sets no shell options and defines only prefixed names.

anip_create_database() {
  psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname postgres \
    --set=role="$1" --set=password="$2" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"role" OWNER :"role";
REVOKE ALL ON DATABASE :"role" FROM PUBLIC;
SQL
}

anip_create_database anip_registry "${ANIP_REGISTRY_DB_PASSWORD:?set ANIP_REGISTRY_DB_PASSWORD in docker/.env}"
anip_create_database anip_studio "${STUDIO_DB_PASSWORD:?set STUDIO_DB_PASSWORD in docker/.env}"
anip_create_database anip_runtime "${ANIP_RUNTIME_DB_PASSWORD:?set ANIP_RUNTIME_DB_PASSWORD in docker/.env}"
