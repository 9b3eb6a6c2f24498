#!/usr/bin/env bash
# Measures how long the explorer takes to play a whole DDPM trajectory
# (1000 steps, 16 digits, the default view) in a 120x40 tmux pane: from the
# first drawn frame to the status line saying "done". Issue #4's target: < 20 s.
#   scripts/playback_time.sh [path to ddpm, default .build/release/ddpm]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-.build/release/ddpm}"
session="ddpm-playback-$$"
tmux kill-session -t "$session" 2>/dev/null || true
tmux new-session -d -s "$session" -x 120 -y 40 "TERM=xterm-256color DDPM_ASSETS=$PWD/assets $bin; sleep 5"
trap 'tmux kill-session -t "$session" 2>/dev/null || true' EXIT
until tmux capture-pane -p -t "$session" | grep -q "running"; do sleep 0.05; done
start=$(date +%s.%N)
until tmux capture-pane -p -t "$session" | grep -q "done, "; do sleep 0.1; done
end=$(date +%s.%N)
tmux capture-pane -p -t "$session" | grep "done, " | head -1
echo "1000-step DDPM trajectory of 16 digits played in $(awk "BEGIN { printf \"%.1f\", $end - $start }") s"
tmux send-keys -t "$session" q
