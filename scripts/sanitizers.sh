#!/usr/bin/env bash
# Runs the unit tests under AddressSanitizer and ThreadSanitizer (debug builds,
# separate build folders). The tmux end-to-end tests are skipped here.
set -euo pipefail
cd "$(dirname "$0")/.."
for s in address thread; do
  echo "== $s sanitizer"
  time swift test --sanitize=$s --scratch-path .build-$s --skip EndToEndTests --skip TrainerTests.testTrainingLowersLoss
done
