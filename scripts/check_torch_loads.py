"""Checks that a weights file written by `ddpm` loads into the PyTorch model.

    /path/to/venv/bin/python scripts/check_torch_loads.py FILE.safetensors [tiny|small]

Loads with safetensors.torch.load_file, keeps the plain state_dict names (a
checkpoint's train./adam_m./adam_v. entries are ignored), load_state_dict(strict),
and runs one forward pass.
"""
import os
import sys

import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "reference"))
from seed_unet import CONFIGS, SimpleDDPMUNet  # noqa: E402

path = sys.argv[1]
name = (sys.argv[2] if len(sys.argv) > 2 else "tiny").capitalize()
sd = {k: v for k, v in load_file(path).items() if "." in k and k.split(".")[0] not in ("train", "adam_m", "adam_v")}
m = SimpleDDPMUNet(**CONFIGS[name]).eval()
m.load_state_dict(sd, strict=True)
hw = 28 if name == "Tiny" else 32
with torch.no_grad():
    y = m(torch.randn(2, 1, hw, hw), torch.tensor([10, 900]))
print(f"ok: {len(sd)} tensors loaded into {name}, output {tuple(y.shape)}, finite={bool(torch.isfinite(y).all())}")
