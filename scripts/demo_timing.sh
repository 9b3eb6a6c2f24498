#!/usr/bin/env bash
# The live-training demo's timing (issue #20): for each seed, trains the demo
# recipe (`ddpm train --recipe demo`, its length fitted to this machine's pace
# after 50 steps) from random weights for MINUTES (default 5)
# of wall-clock time and, every 30 s, samples 64 digits from the EMA weights
# (DDIM 20 steps, x0 clipped, fixed sampling seed: the training view's preview)
# and prints the share the bundled classifier reads with p >= 0.9 among the
# images inked like a digit. The sampling and reading count toward the
# minutes. Ends with a table: at each whole minute per seed, the confident
# share, how many of the ten classes the confident digits cover, and the share
# of them read as 1 (a stroke is the first thing the model gets right, so an
# early high share made of 1s is not yet "digits").
#
#   scripts/demo_timing.sh [seed ...]        (default: 0)
#   MINUTES=5 DDPM=.build/release/ddpm scripts/demo_timing.sh 0 1 2
#
# Run it on an otherwise idle machine: it measures what the class would see.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${DDPM:-.build/release/ddpm}
minutes=${MINUTES:-5}
export DDPM_ASSETS=${DDPM_ASSETS:-$PWD/assets}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
seeds=("$@"); [ ${#seeds[@]} -eq 0 ] && seeds=(0)
for s in "${seeds[@]}"; do
    echo "== seed $s"
    "$bin" train --recipe demo --seed "$s" --minutes "$minutes" --report-every 30 \
        --out "$work/demo-$s.safetensors" | tee "$work/log-$s" | grep -E '^(report|training|sized|fast machine|stopped|done)'
done
python3 - "$work" "$minutes" "${seeds[@]}" <<'EOF'
import re, sys
work, minutes, seeds = sys.argv[1], int(float(sys.argv[2])), sys.argv[3:]
print("\nconfident share (p >= 0.9) of 64 preview digits by minute [classes among them; share of them read as 1]")
print("seed  " + "  ".join(f"{k} min".ljust(18) for k in range(1, minutes + 1)))
for s in seeds:
    pts = []
    for line in open(f"{work}/log-{s}"):
        m = re.match(r"report (\d+):(\d+) step (\d+) confident (\d+)/(\d+) \S+ classes (\S+)", line)
        if m:
            counts = [int(c) for c in m[6].split(",")]
            pts.append((int(m[1]) * 60 + int(m[2]), int(m[4]) / int(m[5]), sum(c > 0 for c in counts),
                        counts[1] / max(1, sum(counts))))
    # At each whole minute: the last report at or before it (stamped when it reads the weights, just after each 30 s).
    cells = []
    for k in range(1, minutes + 1):
        p = [q for q in pts if q[0] <= 60 * k + 5]
        cells.append(f"{p[-1][1]:.3f} [{p[-1][2]:2d}; {p[-1][3]:.2f}]" if p else "-")
    print(f"{s:>4}  " + "  ".join(c.ljust(18) for c in cells))
# The length each run chose for itself, and when it finished (if within the minutes).
for s in seeds:
    log = open(f"{work}/log-{s}").read()
    # A run that started over with the faster setting is sized again 50 steps into it: the last length counts.
    over = re.search(r"^fast machine: started over at batch (\d+), lr ([^;\s]+);", log, re.M)
    sized = re.findall(r"^sized to this machine: (\d+) steps", log, re.M)
    done = re.search(r"^done: (\d+) steps in (\S+),", log, re.M)
    chosen = (f"{sized[-1]} steps chosen" + (f" (started over at batch {over[1]}, lr {over[2]})" if over else "")) if sized else "length not fitted"
    print(f"seed {s}: " + chosen
          + (f", finished in {done[2]}" if done else ", not finished within the minutes"))
EOF
