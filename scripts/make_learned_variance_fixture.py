"""Makes Tests/EngineTests/Fixtures/learned_variance.safetensors with PyTorch.

Run once (needs torch + safetensors + numpy in a venv outside the repo):
    /path/to/venv/bin/python scripts/make_learned_variance_fixture.py
The Swift test (LearnedVarianceTests) reads it without Python.

The reference model with two outputs (scripts/learned_sigma_unet.py; n_channels 8,
ch_mults (1, 2), n_blocks 1, 1 middle block, 8x8, eval mode), digits x0 on the 256
levels of [-1, 1] noised to t = 0, 1, 417, 999 (T = 1000, linear), and improved
DDPM's hybrid loss with the mean frozen in L_vlb, computed in float64 (in float32 the
decoder's bin masses far from the mean cancel to 0 and are clamped; the engine computes
the loss in Double). Stored: model.<key>, x0, noise, t,
xt, out [4,2,8,8], mse [4], vb [4] (bits/dim), and grad.<key> of the loss.
"""
import os

import torch
from safetensors.torch import save_file

from learned_sigma_unet import LearnedSigmaUNet, hybrid_loss, linear_schedule

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(3)
m = LearnedSigmaUNet(image_channels=1, n_channels=8, ch_mults=(1, 2), n_blocks=1, n_mid_blocks=1).eval()
with torch.no_grad():
    for name, p in m.named_parameters():
        if "norm" in name or name.startswith("conv_out"):
            p.add_(0.2 * torch.randn_like(p))
m = m.double()
# The sinusoidal embedding is computed in float32 (as the engine does), then carried on in float64.
m.time_emb[0].register_forward_hook(lambda mod, inp, out: out.double())
s = linear_schedule(1000)
x0 = torch.randint(0, 256, (4, 1, 8, 8)).float() / 127.5 - 1
x0[0, 0, 0, :3] = torch.tensor([-1.0, 1.0, 0.0])   # both open-ended bins and a middle one at t = 0
t = torch.tensor([0, 1, 417, 999])
noise = torch.randn(4, 1, 8, 8)
ab = torch.from_numpy(s["ab"]).float()[t].view(-1, 1, 1, 1)
xt = (torch.sqrt(ab) * x0 + torch.sqrt(1 - ab) * noise).detach()
out = m(xt.double(), t)
mse, vb, loss = hybrid_loss(out, x0.double(), xt.double(), noise.double(), t, s)
loss.backward()
tensors = {"x0": x0, "noise": noise, "t": t.float(), "xt": xt, "out": out.detach().float(), "mse": mse.detach().float(),
           "vb": vb.detach().float()}
for k, v in m.state_dict().items():
    tensors["model." + k] = v.float().contiguous()   # float32 weights, exact in float64
for k, p in m.named_parameters():
    tensors["grad." + k] = p.grad.float().contiguous()
dst = os.path.join(HERE, "..", "Tests", "EngineTests", "Fixtures", "learned_variance.safetensors")
save_file(tensors, dst, metadata={"loss": repr(loss.item()), "torch": torch.__version__})
print("wrote", dst, "loss", loss.item(), "vb", vb.tolist())
