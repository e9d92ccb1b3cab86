#!/usr/bin/env bash
# Regenerates proto/gen from proto/**/*.proto (buf + the local ts-proto plugin; see buf.gen.yaml).
# Generated files are committed so CI can diff them; never edit them by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
npx --no-install buf lint
rm -rf proto/gen
npx --no-install buf generate
