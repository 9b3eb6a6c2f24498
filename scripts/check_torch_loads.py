"""Checks that a weights file written by `ddpm` loads into the PyTorch model.

    /path/to/venv/bin/python scripts/check_torch_loads.py FILE.safetensors [tiny|small]

Loads with safetensors.torch.load_file, keeps the plain state_dict names (a
checkpoint's train./adam_m./adam_v. entries are ignored), load_state_dict(strict),
and runs one forward pass. A model trained with --learn-sigma ("learnSigma" in the
file's config metadata) loads into the reference variant with two outputs
(scripts/learned_sigma_unet.py).
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "reference"))
from seed_unet import CONFIGS, SimpleDDPMUNet  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from learned_sigma_unet import LearnedSigmaUNet  # noqa: E402

path = sys.argv[1]
name = (sys.argv[2] if len(sys.argv) > 2 else "tiny").capitalize()
sd = {k: v for k, v in load_file(path).items() if "." in k and k.split(".")[0] not in ("train", "adam_m", "adam_v")}
with open(path, "rb") as f:
    meta = json.loads(f.read(int.from_bytes(f.read(8), "little"))).get("__metadata__", {})
learned = json.loads(meta.get("config", "{}")).get("learnSigma", False)
m = (LearnedSigmaUNet if learned else SimpleDDPMUNet)(**CONFIGS[name]).eval()
m.load_state_dict(sd, strict=True)
hw = 28 if name == "Tiny" else 32
with torch.no_grad():
    y = m(torch.randn(2, 1, hw, hw), torch.tensor([10, 900]))
print(f"ok: {len(sd)} tensors loaded into {name}{' (learned variance: eps and v)' if learned else ''}, output {tuple(y.shape)}, finite={bool(torch.isfinite(y).all())}")
