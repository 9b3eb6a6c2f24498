#!/usr/bin/env bash
# Runs the whole test suite (end-to-end tests included: they run the
# sanitized ddpm binary) under AddressSanitizer and then ThreadSanitizer.
# Optimised builds with -enable-testing, like the README's test command, in
# separate build folders (.build-address, .build-thread).
#   scripts/sanitizers.sh [address|thread ...]
#
# LeakSanitizer is off (detect_leaks=0): at exit it reports Foundation's own
# String(contentsOfFile:) buffers and libtinfo's screen, outside our code, and
# objects still referenced at exit; that models are freed (no retain cycles) is
# checked by UNetTests.testModelIsFreed instead.
set -uo pipefail
cd "$(dirname "$0")/.."
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0"
# The end-to-end tests run ddpm inside tmux, whose server passes on its own
# environment, not the test's: a server of our own starts with these options.
export TMUX_TMPDIR="$(mktemp -d /tmp/ddpm-sanitizers-tmux.XXXXXX)"
export TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1"
sanitizers=("$@")
[ ${#sanitizers[@]} -eq 0 ] && sanitizers=(address thread)
status=0
for s in "${sanitizers[@]}"; do
  echo "== $s sanitizer"
  start=$(date +%s)
  swift build -c release -Xswiftc -enable-testing --sanitize="$s" --scratch-path ".build-$s" --build-tests 2>&1 | tail -n 1
  built=$(date +%s)
  swift test -c release -Xswiftc -enable-testing --sanitize="$s" --scratch-path ".build-$s" \
      --disable-swift-testing --skip-build > ".build-$s/test.log" 2>&1 || status=1
  grep -E "error:|Executed [0-9]+ tests|WARNING: (Address|Thread)Sanitizer|SUMMARY" ".build-$s/test.log" | sort | uniq -c | tail -n 20
  echo "   $s: build $((built - start)) s, tests $(( $(date +%s) - built )) s"
done
exit $status
