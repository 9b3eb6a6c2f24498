#!/usr/bin/env bash
# Long-use soak tests (issue #18): hours of use must not crash or leak.
#
#   scripts/soak.sh explorer [seconds, default 1800] [path to ddpm]
#     The explorer in a tmux pane, sent a random key every 0.25 s from every
#     view (restart, fork, scrub, renderer, temperature, sampler switches,
#     PNG export, help, training start / pause / save) with a window resize every
#     30 s (80x24 ... 200x60); then q. Passes when it never crashed, exits 0,
#     and its resident memory, sampled every 10 s, stays within 10% of the
#     value at the end of the first minute (training is started in that minute,
#     so its buffers are part of the warm-up).
#   scripts/soak.sh train [steps, default 20000] [path to ddpm]
#     `ddpm train` on the bundled MNIST (Tiny, batch $BATCH, default 64); resident memory sampled
#     every 10 s must stay within 10% of the value after the first minute.
#
# Works in a temporary folder (checkpoints and PNGs land there). Prints one line
# per sample and a verdict; exits 1 when a target is missed. Both modes run
# nice'd so they can share the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:?usage: scripts/soak.sh explorer|train [seconds|steps] [ddpm]}"
bin="$(realpath "${3:-.build/release/ddpm}")"
assets="$PWD/assets"
work="$(mktemp -d /tmp/ddpm-soak.XXXXXX)"
trap 'tmux kill-session -t "ddpm-soak-$$" 2>/dev/null || true; rm -rf "$work"' EXIT
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
samples=()
record() { # seconds rss_kb
    samples+=("$1 $2")
    awk -v t="$1" -v r="$2" 'BEGIN { printf "%6ds  %7.1f MiB\n", t, r / 1024 }'
}
verdict() { # label; reads samples, reference = first sample at or after 60 s
    printf '%s\n' "${samples[@]}" | awk -v label="$1" '
        { t[NR] = $1; r[NR] = $2 }
        END {
            for (i = 1; i <= NR; i++) if (t[i] >= 60) { ref = r[i]; break }
            if (!ref) { print label ": too short to judge (no sample after 60 s)"; exit 1 }
            lo = ref; hi = ref
            for (i = 1; i <= NR; i++) if (t[i] >= 60) { if (r[i] < lo) lo = r[i]; if (r[i] > hi) hi = r[i] }
            printf "%s: resident %.1f MiB at 60 s; after that min %.1f, max %.1f MiB (%+.1f%% / %+.1f%%; target within 10%%)\n",
                label, ref / 1024, lo / 1024, hi / 1024, 100 * (lo - ref) / ref, 100 * (hi - ref) / ref
            if (hi > 1.1 * ref || lo < 0.9 * ref) { print "TARGET MISSED"; exit 1 }
        }'
}

case "$mode" in
explorer)
    secs="${2:-1800}"
    session="ddpm-soak-$$"
    cd "$work"
    tmux new-session -d -s "$session" -x 120 -y 40 \
        "exec nice -n 10 env TERM=xterm-256color DDPM_ASSETS=$assets $bin explore"
    tmux set-option -t "$session" remain-on-exit on >/dev/null
    pid=$(tmux display -p -t "$session" '#{pane_pid}')
    until tmux capture-pane -p -t "$session" | grep -q "running"; do sleep 0.1; done
    # Training starts in the first minute (its buffers are warm-up), then back to sampling.
    tmux send-keys -t "$session" 2 g d; sleep 5; tmux send-keys -t "$session" 1
    keys=(1 2 3 4 1 1 1 m Space . + - r t T n N e E d s S v c Left Right S-Left S-Right f f Tab p h j k l z = a
          Up Down w ? Escape Enter BSpace Home End PageUp PageDown 0 5 ,)
    sizes=("80 24" "120 40" "200 60" "100 30" "81 25")
    start=$(date +%s); next_sample=0; next_resize=30; crashed=""
    while :; do
        now=$(( $(date +%s) - start ))
        (( now >= secs )) && break
        if [ "$(tmux display -p -t "$session" '#{pane_dead}')" = 1 ]; then crashed="after ${now}s"; break; fi
        if (( now >= next_sample )); then record "$now" "$(rss_kb "$pid")"; next_sample=$(( next_sample + 10 )); fi
        if (( now >= next_resize )); then
            read -r w h <<< "${sizes[RANDOM % ${#sizes[@]}]}"
            tmux resize-window -t "$session" -x "$w" -y "$h"; next_resize=$(( next_resize + 30 ))
        fi
        tmux send-keys -t "$session" "${keys[RANDOM % ${#keys[@]}]}"
        sleep 0.25
    done
    if [ -n "$crashed" ]; then
        echo "explorer died $crashed (status $(tmux display -p -t "$session" '#{pane_dead_status}'))"
        tmux capture-pane -p -t "$session" | tail -5
        echo "TARGET MISSED"; exit 1
    fi
    # Escape ends a value entry; alone (a pause after it), so that it and q are not read as Alt-q.
    tmux send-keys -t "$session" Escape; sleep 1.5
    # With a fork open (or a training run) the first q asks; the second quits.
    tmux send-keys -t "$session" q; sleep 1.5
    [ "$(tmux display -p -t "$session" '#{pane_dead}')" = 1 ] || tmux send-keys -t "$session" q
    for _ in $(seq 150); do [ "$(tmux display -p -t "$session" '#{pane_dead}')" = 1 ] && break; sleep 0.1; done
    status=$(tmux display -p -t "$session" '#{pane_dead_status}')
    echo "explorer: ${secs}s of random keys, exit status ${status:-none (still running)}"
    verdict "explorer"
    [ "$status" = 0 ] || { echo "TARGET MISSED"; exit 1; }
    ;;
train)
    steps="${2:-20000}"
    cd "$work"
    nice -n 10 env DDPM_ASSETS="$assets" "$bin" train --steps "$steps" --batch "${BATCH:-64}" --out soak.safetensors \
        > train.log 2>&1 &
    pid=$!
    start=$(date +%s); next_sample=0
    while kill -0 "$pid" 2>/dev/null; do
        now=$(( $(date +%s) - start ))
        if (( now >= next_sample )); then
            r=$(rss_kb "$pid"); [ "$r" != 0 ] && record "$now" "$r"; next_sample=$(( next_sample + 10 ))
        fi
        sleep 1
    done
    wait "$pid" && status=0 || status=$?
    echo "train: $steps steps in $(( $(date +%s) - start ))s, exit status $status; last line: $(tail -1 train.log)"
    verdict "train"
    [ "$status" = 0 ] || { echo "TARGET MISSED"; exit 1; }
    ;;
*) echo "usage: scripts/soak.sh explorer|train [seconds|steps] [ddpm]"; exit 2 ;;
esac
