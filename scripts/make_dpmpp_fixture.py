"""Writes Tests/EngineTests/Fixtures/dpmpp.json: trajectories of diffusers'
DPMSolverMultistepScheduler (algorithm "dpmsolver++", order 2, midpoint,
final sigma zero, trailing spacing) on the linear schedule (T = 1000,
beta 1e-4 ... 0.02), with the "model" eps = a * x + b (the Swift tests'
LinearPredictor), in float64, at 10 and 25 steps, from a fixed x_T of 2
images of 4x4. DPMSolverStep's Swift trajectories must match them.

Run in a venv with torch and diffusers:  python scripts/make_dpmpp_fixture.py
"""
import json, pathlib
import torch
import diffusers
from diffusers import DPMSolverMultistepScheduler

a, b = 0.3, 0.1
torch.manual_seed(0)
x_T = torch.randn(2, 1, 4, 4, dtype=torch.float64)
out = {"diffusers": diffusers.__version__, "T": 1000, "a": a, "b": b, "x_T": x_T.flatten().tolist(), "runs": []}
for steps in (10, 25):
    sched = DPMSolverMultistepScheduler(
        num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, beta_schedule="linear",
        algorithm_type="dpmsolver++", solver_order=2, solver_type="midpoint", lower_order_final=True,
        final_sigmas_type="zero", timestep_spacing="trailing", prediction_type="epsilon", thresholding=False)
    sched.set_timesteps(steps)
    x = x_T.clone()
    traj = []
    for t in sched.timesteps:
        eps = a * x + b
        x = sched.step(eps, t, x).prev_sample
        traj.append(x.flatten().tolist())
    out["runs"].append({"steps": steps, "timesteps": [int(t) for t in sched.timesteps], "trajectory": traj})
path = pathlib.Path(__file__).resolve().parent.parent / "Tests/EngineTests/Fixtures/dpmpp.json"
path.write_text(json.dumps(out))
print("wrote", path, "diffusers", diffusers.__version__)
