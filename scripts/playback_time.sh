#!/usr/bin/env bash
# Measures how long the explorer takes to play a whole DDPM trajectory
# (1000 steps, 16 digits, the default view) in a 120x40 tmux pane: from the
# first drawn frame to the status line saying "done". Issue #4's target: < 20 s.
#   scripts/playback_time.sh [path to ddpm, default .build/release/ddpm]
# ASSETS=DIR plays on another assets folder (say, one without the classifier,
# to time the digit labels' share).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-.build/release/ddpm}"
session="ddpm-playback-$$"
tmux kill-session -t "$session" 2>/dev/null || true
tmux new-session -d -s "$session" -x 120 -y 40 "TERM=xterm-256color DDPM_ASSETS=${ASSETS:-$PWD/assets} $bin; sleep 5"
trap 'tmux kill-session -t "$session" 2>/dev/null || true' EXIT
until tmux capture-pane -p -t "$session" | grep -q "running"; do sleep 0.05; done
start=$(date +%s.%N)
until tmux capture-pane -p -t "$session" | grep -q "done, "; do sleep 0.1; done
end=$(date +%s.%N)
tmux capture-pane -p -t "$session" | grep "done, " | head -1
tmux send-keys -t "$session" q
# Target (issues #4, #21): the whole trajectory plays in under 20 s; exit 1 when missed.
target_s="${TARGET_S:-20}"
awk -v d="$(awk "BEGIN { print $end - $start }")" -v target="$target_s" 'BEGIN {
  printf "1000-step DDPM trajectory of 16 digits played in %.1f s (target: under %d s)\n", d, target
  if (d >= target) { print "TARGET MISSED"; exit 1 }
}'
