#!/usr/bin/env bash
# The full check behind `make test`: formatting, lints, then every test in the workspace.
#
# Databases: the test harness starts its own throwaway PostgreSQL and MariaDB per test process
# unless OFFPEAK_TEST_PG_URL / OFFPEAK_TEST_MYSQL_URL name a server. When they are unset and this
# machine's own servers accept the default superuser on 127.0.0.1, they are used instead, which
# saves a server start per test binary. A server that answers but refuses that login is not used:
# the throwaway path is slower but works without anyone's credentials.
#
# OFFPEAK_TEST_START (seconds since the epoch) lets the caller count its own setup in the wall time.
set -euo pipefail

start="${OFFPEAK_TEST_START:-$(date +%s)}"
report_time() {
    local rc=$?
    echo "make test: $( ((rc == 0)) && echo passed || echo "FAILED (exit $rc)" )," \
        "total wall time $(($(date +%s) - start))s"
}
trap report_time EXIT

machine_pg_url=postgres://postgres@127.0.0.1:5432/postgres
machine_mysql_url=mysql://root@127.0.0.1:3306

machine_pg_usable() {
    command -v pg_isready >/dev/null && command -v psql >/dev/null || return 1
    pg_isready -q -h 127.0.0.1 -p 5432 -t 2 || return 1
    [[ "$(psql "$machine_pg_url" -wXAtqc 'SELECT rolcreatedb OR rolsuper FROM pg_roles
        WHERE rolname = current_user' 2>/dev/null)" == t ]]
}

machine_mysql_usable() {
    local client
    client="$(command -v mariadb || command -v mysql)" || return 1
    "$client" --no-defaults --protocol=tcp -h 127.0.0.1 -P 3306 -u root \
        --connect-timeout=2 -e 'SELECT 1' >/dev/null 2>&1
}

if [[ -z "${OFFPEAK_TEST_PG_URL:-}" ]] && machine_pg_usable; then
    export OFFPEAK_TEST_PG_URL="$machine_pg_url"
fi
if [[ -z "${OFFPEAK_TEST_MYSQL_URL:-}" ]] && machine_mysql_usable; then
    export OFFPEAK_TEST_MYSQL_URL="$machine_mysql_url"
fi
echo "make test: PostgreSQL ${OFFPEAK_TEST_PG_URL:-throwaway server per test process}"
echo "make test: MariaDB ${OFFPEAK_TEST_MYSQL_URL:-throwaway server per test process}"

run() {
    echo "+ $*"
    "$@"
}
run cargo fmt --all -- --check
run cargo clippy --workspace --all-targets -- -D warnings
run cargo test --workspace
