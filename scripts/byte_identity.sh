#!/usr/bin/env bash
# Writes a fixed set of outputs with one ddpm binary, to compare two builds byte
# for byte (a behaviour-preserving change must give identical files):
#   scripts/byte_identity.sh BINDIR OUTDIR [old]
#   then: for f in A/*; do cmp "$f" "B/$(basename "$f")"; done
# BINDIR holds the `ddpm` to run (it runs as plain `ddpm`, so the command line in
# checkpoint metadata is the same for both). Pass `old` for binaries from before
# --backend (they chose kernels with DDPM_AVX512=0 / DDPM_CONV=im2col).
# Samples: DDPM b1 and b16 (posterior variance), DDIM-50 eta 0.5 b16, DDIM-20
# clip and temperature 0.8 b1, on the AVX-512 and AVX2 backends; the reference
# backend; a trajectory sheet; DDIM-20 guided toward 7 (the classifier of noisy
# digits, forward and input gradient); 50- and 20-step checkpoints (written also as
# *.data without the `command` and `wall_time_s` metadata, which differ by run).
set -e
BD=$(cd "$1" && pwd); O=$2; OLD=${3:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export DDPM_ASSETS="$ROOT/assets" PATH="$BD:$PATH"
mkdir -p "$O"; cd "$O"
run() { # run BACKEND args...
  local b=$1; shift
  if [ "$OLD" = old ]; then
    case $b in avx512) ddpm "$@";; avx2) DDPM_AVX512=0 ddpm "$@";; reference) DDPM_CONV=im2col ddpm "$@";; esac
  else ddpm "$@" --backend "$b"; fi
}
for b in avx512 avx2; do
  run $b sample --n 1 --sampler ddpm --seed 3 --out ddpm-b1-$b.idx
  run $b sample --n 16 --sampler ddpm --seed 4 --variance posterior --out ddpm-b16-$b.idx
  run $b sample --n 16 --sampler ddim --steps 50 --eta 0.5 --seed 5 --out ddim-b16-$b.idx
  run $b sample --n 1 --sampler ddim --steps 20 --clip --temperature 0.8 --seed 6 --out ddim-b1-$b.idx
done
run avx512 sample --n 5 --sampler ddim --steps 30 --seed 9 --out ddim-b5-trajectory.png --trajectory
run reference sample --n 4 --sampler ddim --steps 10 --seed 2 --out ddim-b4-reference.idx
run avx512 sample --n 4 --sampler ddim --steps 20 --guide 7 --seed 8 --out ddim-b4-guided.idx
# (ddpm train keeps an earlier run's checkpoint: a rerun into the same folder starts these anew.)
rm -f train50.safetensors train20-avx2.safetensors
run avx512 train --steps 50 --batch 16 --seed 1 --limit 2000 --checkpoint-every 1000 --out train50.safetensors > /dev/null 2>&1
run avx2 train --steps 20 --batch 8 --seed 2 --limit 500 --checkpoint-every 1000 --out train20-avx2.safetensors > /dev/null 2>&1
python3 - <<'PY'
import json, struct, glob
for p in glob.glob('*.safetensors'):
    b = open(p, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + n])
    for k in ('command', 'wall_time_s'): h.get('__metadata__', {}).pop(k, None)
    open(p + '.data', 'wb').write(json.dumps(h, sort_keys=True).encode() + b[8 + n:])
PY
echo "wrote $(ls | wc -l) files to $O"
