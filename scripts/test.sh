#!/usr/bin/env bash
# The whole suite in two tiers: fast (no servers) first, then services (real servers on 127.0.0.1).
# Usage: scripts/test.sh [fast|services|all]   (default all). Prints each phase's duration.
set -uo pipefail
cd "$(dirname "$0")/.."
tier=${1:-all}
export PATH="$PWD/.venv/bin:$PATH"
status=0
declare -a summary=()

phase() {  # phase NAME COMMAND... : run, time, remember the outcome
    local name=$1; shift
    local start=$SECONDS
    echo "=== $name"
    "$@"; local rc=$?
    summary+=("$(printf '%-28s %4ss  %s' "$name" $((SECONDS - start)) "$([ $rc = 0 ] && echo ok || echo "FAILED ($rc)")")")
    [ $rc = 0 ] || status=1
    return $rc
}

pytest_tier() {  # pytest_tier MARKEXPR [allow-empty]
    pytest -m "$1" -p no:cacheprovider
    local rc=$?
    if [ $rc = 5 ] && [ "${2:-}" = allow-empty ]; then
        echo "(no tests in this tier yet)"; return 0
    fi
    return $rc
}

if [ "$tier" = all ] || [ "$tier" = fast ]; then
    phase "ruff format --check" ruff format --check .
    phase "ruff check" ruff check .
    phase "mypy (strict core)" mypy
    phase "commit subjects" bash scripts/check_commits.sh
    phase "go test (chaincode)" bash -c '[ ! -f ledger/chaincode/go.mod ] || (cd ledger/chaincode && GOTOOLCHAIN=local GOFLAGS= go test ./...)'
    phase "pytest fast tier" pytest_tier "not services"
fi
if [ "$tier" = all ] || [ "$tier" = services ]; then
    if [ -f scripts/services.sh ]; then
        phase "services up" bash scripts/services.sh up
    fi
    phase "pytest services tier" pytest_tier "services" allow-empty
    if [ -f scripts/services.sh ]; then
        phase "services down" bash scripts/services.sh down
    fi
fi
echo
echo "=== summary"
printf '%s\n' "${summary[@]}"
exit $status
