#!/usr/bin/env bash
# Training recipes compared at equal compute (issue #21: measure which settings
# move the metrics before spending hours on one). Each line of RECIPES is a
# name and `ddpm train` flags, with --steps chosen so that every recipe takes
# about 8 minutes on an idle 2-core machine (Tiny: batch 32 about 10.5 steps/s,
# batch 64 about 4.1). Training is step-deterministic, so the results do not
# depend on what else the machine does. Each trains from random weights and
# is then scored by `ddpm eval` (DDIM 50 steps, N samples, default 1000, seed
# 0: confident rate and FD with their 95% intervals,
# and FD over the held-out real digits' FD). The first recipe is the baseline:
# every other one is evaluated `--versus` its samples, which says whether the
# two differ beyond noise.
#
#   scripts/compare_recipes.sh                      (the recipes below)
#   N=1000 OUT=/tmp/recipes RECIPES="name|flags..." scripts/compare_recipes.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${DDPM:-.build/release/ddpm}
n=${N:-1000}
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
export DDPM_ASSETS=${DDPM_ASSETS:-$PWD/assets}
RECIPES=${RECIPES:-"b32-min-snr|--recipe demo --steps 5000 --ema 0.995
b32-simple|--recipe demo --steps 5000 --ema 0.995 --weighting simple
b32-cosine|--recipe demo --steps 5000 --ema 0.995 --schedule cosine
b32-lr2e-3|--recipe demo --steps 5000 --ema 0.995 --lr 2e-3
b64-min-snr|--recipe full --steps 2000 --weighting min-snr"}
base=""
while IFS='|' read -r name flags; do
    [ -z "$name" ] && continue
    echo "== $name: ddpm train $flags"
    start=$(date +%s)
    # shellcheck disable=SC2086
    rm -f "$out/$name.safetensors"   # a rerun into the same folder trains anew (train keeps an existing checkpoint)
    "$bin" train $flags --out "$out/$name.safetensors" > "$out/$name.train.log" 2>&1
    echo "trained in $(( $(date +%s) - start )) s"
    "$bin" sample --weights "$out/$name.safetensors" --sampler ddim --steps 50 --n "$n" --seed 0 --out "$out/$name.idx" > /dev/null
    versus=(); if [ -n "$base" ]; then versus=(--versus "$out/$base.idx"); fi
    "$bin" eval --images "$out/$name.idx" "${versus[@]}" --n "$n" > "$out/$name.eval.txt"
    grep -E '^(Frechet|confident|FD ratio|generated - )' "$out/$name.eval.txt" | sed "s/^generated - versus/$name - $base/"
    if [ -z "$base" ]; then base=$name; fi
done <<< "$RECIPES"
echo "checkpoints and logs in $out"
