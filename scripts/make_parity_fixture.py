"""Makes Tests/EngineTests/Fixtures/parity.safetensors and attention.safetensors with PyTorch.

Run once (needs torch + safetensors in a venv outside the repo):
    /path/to/venv/bin/python scripts/make_parity_fixture.py
The Swift test (ParityTests) reads the file without Python.

Reduced config: n_channels 8, ch_mults (1, 2), n_blocks 1, 1 middle block, 8x8 input,
batch 3. The model is in eval() mode (dropout off). Stored tensors:
  model.<state_dict key>  weights (PyTorch's default init, seed 0, norms perturbed)
  x [3,1,8,8], t [3] (float), target [3,1,8,8]
  out [3,1,8,8]               model(x, t)
  grad.<key>                  d mse_loss(out, target) / d param
  grad_x                      d loss / d x

attention.safetensors: the chapter's AttentionBlock(16 channels, 4 heads) alone,
weights "attn.<key>" (default init, seed 1, norm perturbed), x [2,16,5,5], out,
grad.<key> and grad_x of mse_loss(out, target).
"""
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "shared", "reference"))
from seed_unet import AttentionBlock, SimpleDDPMUNet  # noqa: E402

torch.manual_seed(0)
m = SimpleDDPMUNet(image_channels=1, n_channels=8, ch_mults=(1, 2), n_blocks=1, n_mid_blocks=1).eval()
with torch.no_grad():
    for name, p in m.named_parameters():
        if "norm" in name or name.startswith("conv_out.0"):
            p.add_(0.2 * torch.randn_like(p))
x = torch.randn(3, 1, 8, 8, requires_grad=True)
t = torch.tensor([0, 417, 999])
target = torch.randn(3, 1, 8, 8)
out = m(x, t)
loss = F.mse_loss(out, target)
loss.backward()
tensors = {"x": x.detach(), "t": t.float(), "target": target, "out": out.detach(), "grad_x": x.grad}
for k, v in m.state_dict().items():
    tensors["model." + k] = v.contiguous()
for k, p in m.named_parameters():
    tensors["grad." + k] = p.grad.contiguous()
dst = os.path.join(HERE, "..", "Tests", "EngineTests", "Fixtures", "parity.safetensors")
save_file(tensors, dst, metadata={"loss": repr(loss.item()), "torch": torch.__version__})
print("wrote", dst, "loss", loss.item())

torch.manual_seed(1)
a = AttentionBlock(16, num_heads=4)
with torch.no_grad():
    a.norm.weight.add_(0.2 * torch.randn_like(a.norm.weight))
    a.norm.bias.add_(0.2 * torch.randn_like(a.norm.bias))
x = torch.randn(2, 16, 5, 5, requires_grad=True)
target = torch.randn(2, 16, 5, 5)
out = a(x)
loss = F.mse_loss(out, target)
loss.backward()
tensors = {"x": x.detach(), "target": target, "out": out.detach(), "grad_x": x.grad}
for k, v in a.state_dict().items():
    tensors["attn." + k] = v.contiguous()
for k, p in a.named_parameters():
    tensors["grad." + k] = p.grad.contiguous()
dst = os.path.join(HERE, "..", "Tests", "EngineTests", "Fixtures", "attention.safetensors")
save_file(tensors, dst, metadata={"loss": repr(loss.item()), "torch": torch.__version__})
print("wrote", dst, "loss", loss.item())
