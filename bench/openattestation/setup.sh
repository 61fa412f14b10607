#!/usr/bin/env bash
# Installs the OpenAttestation baseline into .cache/node (git-ignored) from the committed
# package.json / package-lock.json; `npm ci` when the lock exists, so versions are pinned.
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=.cache/node
mkdir -p "$dest"
cp bench/openattestation/package.json "$dest/"
if [ -f bench/openattestation/package-lock.json ]; then
    cp bench/openattestation/package-lock.json "$dest/"
    [ -d "$dest/node_modules/@govtechsg/open-attestation" ] || \
        npm ci --prefix "$dest" --no-audit --no-fund --loglevel=error
else
    npm install --prefix "$dest" --no-audit --no-fund --loglevel=error
    cp "$dest/package-lock.json" bench/openattestation/
fi
