#!/usr/bin/env bash
# Commit subjects at most 72 characters, for every commit after the one that made it a rule
# (older history is left as it was). Outside a git checkout, or in a clone too shallow to hold
# that commit, there is nothing to check and it says so.
set -uo pipefail
cd "$(dirname "$0")/.."
since=77c28346c377810dc919a1d5150c15a109f777a3
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    echo "not a git checkout: no commit subjects to check"; exit 0
fi
if ! git cat-file -e "$since^{commit}" 2>/dev/null; then
    echo "history before HEAD not here (shallow clone): subjects not checked"; exit 0
fi
long=$(git log --format='%h %s' "$since..HEAD" | python3 -c '
import sys
for line in sys.stdin.buffer.read().decode("utf-8").splitlines():
    if len(line.split(" ", 1)[1]) > 72:  # characters, not bytes
        print(line)')
if [ -n "$long" ]; then
    echo "commit subjects longer than 72 characters:"; echo "$long"; exit 1
fi
echo "$(git rev-list --count "$since..HEAD") commit subjects checked"
