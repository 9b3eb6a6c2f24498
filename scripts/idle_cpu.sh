#!/usr/bin/env bash
# CPU time a paused explorer uses: starts it in a 120x40 tmux pane, pauses
# with space and reads the process's user+system clock ticks over 10 s from
# /proc/PID/stat.
#   scripts/idle_cpu.sh [path to ddpm]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-.build/release/ddpm}"
session="ddpm-idle-$$"
tmux new-session -d -s "$session" -x 120 -y 40 "TERM=xterm-256color DDPM_ASSETS=$PWD/assets exec $bin"
trap 'tmux kill-session -t "$session" 2>/dev/null || true' EXIT
until tmux capture-pane -p -t "$session" | grep -q "running"; do sleep 0.05; done
tmux send-keys -t "$session" " "
until tmux capture-pane -p -t "$session" | grep -q "paused"; do sleep 0.05; done
sleep 1
pid=$(tmux list-panes -t "$session" -F '#{pane_pid}')
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
a=$(ticks); sleep 10; b=$(ticks)
hz=$(getconf CLK_TCK)
tmux send-keys -t "$session" q
# Target: a paused explorer uses under 1% of a core; exit 1 when missed.
target_pct="${TARGET_PCT:-1}"
awk -v t=$((b - a)) -v hz="$hz" -v target="$target_pct" 'BEGIN {
  pct = 100 * t / (10 * hz)
  printf "paused explorer: %d clock ticks in 10 s = %.1f%% of a core (target: under %s%%)\n", t, pct, target
  if (pct >= target) { print "TARGET MISSED"; exit 1 }
}'
