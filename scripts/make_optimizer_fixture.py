"""Writes Tests/EngineTests/Fixtures/adam.json: five steps of torch.optim.Adam
(lr 1e-2, betas 0.9/0.999, eps 1e-8) on 37 parameters with fixed gradients,
and the loss weightings of SPEC section 2 at chosen t, computed here in
float64 from the schedule's definition (not from the Swift code).

Run in a venv with torch:  python scripts/make_optimizer_fixture.py
"""
import json, math, pathlib
import torch

torch.manual_seed(0)
p0 = torch.randn(37, dtype=torch.float32)
grads = [torch.randn(37, dtype=torch.float32) * (0.1 * (k + 1)) for k in range(5)]
p = p0.clone().requires_grad_(True)
opt = torch.optim.Adam([p], lr=1e-2, betas=(0.9, 0.999), eps=1e-8)
after = []
for g in grads:
    opt.zero_grad()
    p.grad = g.clone()
    opt.step()
    after.append(p.detach().clone().tolist())

# Linear schedule, T = 1000, beta 1e-4 ... 0.02 (numpy-style linspace, last point exact).
T, b0, b1 = 1000, 1e-4, 0.02
betas = [b0 + i * (b1 - b0) / (T - 1) for i in range(T)]
betas[-1] = b1
abar, acc = [], 1.0
for b in betas:
    acc *= 1 - b
    abar.append(acc)
weights = []
for t in [0, 1, 10, 100, 250, 500, 750, 999]:
    snr = abar[t] / (1 - abar[t])
    weights.append({
        "t": t,
        "simple": 1.0,
        "snr": 1 / (1 + snr),
        "min-snr": min(snr, 5.0) / snr,
        "importance": betas[t] ** 2 / (2 * betas[t] * (1 - betas[t]) * (1 - abar[t])),
    })

out = {"p0": p0.tolist(), "grads": [g.tolist() for g in grads], "after": after, "lr": 1e-2,
       "weights": weights, "torch": torch.__version__}
path = pathlib.Path(__file__).resolve().parent.parent / "Tests/EngineTests/Fixtures/adam.json"
path.write_text(json.dumps(out))
print("wrote", path)
