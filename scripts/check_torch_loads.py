"""Checks that a weights file written by `ddpm` loads into the PyTorch model.

    /path/to/venv/bin/python scripts/check_torch_loads.py FILE.safetensors [tiny|small]

Loads with safetensors.torch.load_file, keeps the plain state_dict names (a
checkpoint's train./adam_m./adam_v. entries are ignored), load_state_dict(strict),
and runs one forward pass. The model is the one the file's config metadata
describes (widths, levels, attention, GroupNorm groups; a model trained with
--learn-sigma gets the reference's two-output conv_out, as
scripts/learned_sigma_unet.py does; one trained with --self-condition a conv_in
that reads x_t and the x0 estimate, torch.cat([x_t, x0_est], dim=1)), built by scripts/train_torch.py's
build_model; a file without that metadata is read as the config named on the
command line (default tiny).
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "reference"))
from seed_unet import CONFIGS, SimpleDDPMUNet  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_torch import build_model  # noqa: E402

path = sys.argv[1]
name = (sys.argv[2] if len(sys.argv) > 2 else "tiny").capitalize()
sd = {k: v for k, v in load_file(path).items() if "." in k and k.split(".")[0] not in ("train", "adam_m", "adam_v")}
with open(path, "rb") as f:
    meta = json.loads(f.read(int.from_bytes(f.read(8), "little"))).get("__metadata__", {})
if "config" in meta:
    cfg = json.loads(meta["config"])
    m = build_model(dict(dict(nMidBlocks=2, groups=8, attention=[], dropout=0, imageChannels=1), **cfg)).eval()
    learned, hw = cfg.get("learnSigma", False), cfg["imageSize"]
    conditioned = cfg.get("selfCondition", False)
    name = f"the file's config ({cfg['nChannels']} channels, {len(cfg['chMults'])} levels, attention {cfg.get('attention', [])})"
else:
    m, learned, conditioned, hw = SimpleDDPMUNet(**CONFIGS[name]).eval(), False, False, 28 if name == "Tiny" else 32
m.load_state_dict(sd, strict=True)
with torch.no_grad():
    y = m(torch.randn(2, m.conv_in.in_channels, hw, hw), torch.tensor([10, 900]))
print(f"ok: {len(sd)} tensors loaded into {name}{' (learned variance: eps and v)' if learned else ''}{' (self-conditioned: reads x_t and an x0 estimate)' if conditioned else ''}, output {tuple(y.shape)}, finite={bool(torch.isfinite(y).all())}")
