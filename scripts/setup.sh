#!/usr/bin/env bash
# Makes a clone ready to run: installs the dependencies when they are missing (npm ci, from package-lock.json),
# then builds the CLI into dist/. `npm run demo`, `npm test` and the other scripts start with it, so that
# they work on a fresh clone.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x node_modules/.bin/tsc ] || [ ! -x node_modules/.bin/ava ]; then
  npm ci --no-audit --no-fund
fi
npm run build --silent
