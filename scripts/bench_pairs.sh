#!/usr/bin/env bash
# Three back-to-back pairs of `ddpm bench --json` and the PyTorch baseline, for
# one or two ddpm binaries (round: A, torch[, B, torch]), then the ratios:
#   scripts/bench_pairs.sh PYTHON OUTDIR DDPM_A [DDPM_B]
# PYTHON: a python with torch (a venv outside the repo).
set -e
PY=$1; O=$2; A=$3; B=${4:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$O"; export DDPM_ASSETS="$ROOT/assets"
for i in 1 2 3; do
  "$A" bench --json > "$O/a$i.json" 2>/dev/null
  "$PY" "$ROOT/../shared/reference/torch_baseline.py" --models tiny --steps 20 --json "$O/ta$i.json" > /dev/null 2>&1
  if [ -n "$B" ]; then
    "$B" bench --json > "$O/b$i.json" 2>/dev/null
    "$PY" "$ROOT/../shared/reference/torch_baseline.py" --models tiny --steps 20 --json "$O/tb$i.json" > /dev/null 2>&1
  fi
done
python3 - "$O" "$B" <<'PYEOF'
import json, statistics, sys
D, two = sys.argv[1] + '/', bool(sys.argv[2])
def ours(f):
    d = json.load(open(D + f)); r = {}
    for t in d['train']: r['train b%d' % t['batch']] = t['images_per_second']
    for s in d['sample']: r['sample b%d' % s['batch']] = s['ms_per_step']
    return r
def torch(f):
    d = json.load(open(D + f))['results'][0]; r = {}
    for b, v in d['train'].items(): r['train b' + b] = v['imgs_s']
    for b, v in d['sample'].items(): r['sample b' + b] = v['ms']
    return r
for label, o, t in [('A', 'a', 'ta')] + ([('B', 'b', 'tb')] if two else []):
    print('==', label, '(train: img/s, ratio = throughput; sample: ms, ratio = time)')
    for k in ['train b64', 'train b128', 'sample b1', 'sample b16', 'sample b64']:
        os_ = [ours(f'{o}{i}.json')[k] for i in (1, 2, 3)]; ts = [torch(f'{t}{i}.json')[k] for i in (1, 2, 3)]
        rs = [a / b for a, b in zip(os_, ts)]
        print(f"{k:11s} ours {statistics.median(os_):8.2f}  torch {statistics.median(ts):8.2f}  "
              f"ratios {', '.join('%.2f' % r for r in rs)}  median {statistics.median(rs):.2f}")
PYEOF
