"""Trains the reference U-Net with PyTorch, on one CPU or GPU or many under torchrun (DDP).

The model is ../shared/reference/seed_unet.py's SimpleDDPMUNet in any config (widths,
multipliers, blocks, attention levels, 28 or 32 pixels, a learned variance), trained
as `ddpm train` trains it: the same schedules, objectives, loss weightings, Adam with
linear warm-up then cosine decay, gradient clipping to norm 1 and an EMA of the
weights, with `ddpm train`'s full-recipe defaults. The EMA weights are written as
safetensors with the `__metadata__` `ddpm` writes (config, schedule, T, objective,
step, command), so every `ddpm` command opens the file:

    # one process (CPU, or one GPU)
    python scripts/train_torch.py --data assets/mnist --out tiny.safetensors
    # one node with 8 GPUs (NCCL); --batch is the global batch, split across processes
    torchrun --nproc_per_node 8 scripts/train_torch.py --config small --batch 256 --out small.safetensors
    # two nodes with 8 GPUs each (run on both, --node_rank 0 and 1)
    torchrun --nnodes 2 --node_rank 0 --nproc_per_node 8 --rdzv_backend c10d \\
        --rdzv_endpoint HOST0:29500 scripts/train_torch.py --config small --batch 512 --out small.safetensors
    ./.build/release/ddpm --weights small.safetensors

Resuming: the full state (raw weights, EMA, Adam moments, step, options) goes to
OUT.pt every --checkpoint-every steps, at the end, and on SIGINT/SIGTERM;
`--resume` continues from it exactly (the data order and every random draw are a
function of --seed, the step and the process's rank, not of where a run stopped).
--stop-at N ends a run at step N of its --steps, as an interruption would.

--probe FILE also writes, after the last step, the EMA model's output on a fixed
batch (x, t, out): what the tests compare the Swift model against.
"""
import argparse
import gzip
import json
import math
import os
import signal
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "shared", "reference"))
sys.path.insert(0, HERE)
from seed_unet import AttentionBlock, ResidualBlock, SimpleDDPMUNet  # noqa: E402
import learned_sigma_unet  # noqa: E402
from learned_sigma_unet import hybrid_loss  # noqa: E402

# hybrid_loss's table lookup, on the device the batch is on (a GPU too).
learned_sigma_unet._at = lambda a, t, like: (
    torch.from_numpy(a).to(like.device, like.dtype)[t].view(-1, *([1] * (like.dim() - 1))))

# `ddpm train`'s configs (UNetConfig.tiny / .small) and its full recipe (TrainRecipe.full).
CONFIGS = {"tiny": dict(nChannels=16, chMults=[1, 2, 2], imageSize=28),
           "small": dict(nChannels=32, chMults=[1, 2, 2, 4], imageSize=32)}
FULL_EPOCHS = 20


# ---------------------------------------------------------------- the model

class ResidualAttentionBlock(ResidualBlock):
    """A ResidualBlock followed by the chapter's AttentionBlock as its `attn`
    (the names `ddpm` gives it: downs.K.attn.*, middle.K.attn.*, ups.K.attn.*)."""

    def forward(self, x, t):
        return self.attn(super().forward(x, t))


def build_model(cfg):
    """SimpleDDPMUNet for a config in `ddpm`'s metadata form (UNetConfig's JSON)."""
    m = SimpleDDPMUNet(image_channels=cfg["imageChannels"], n_channels=cfg["nChannels"],
                       ch_mults=tuple(cfg["chMults"]), n_blocks=cfg["nBlocks"], n_mid_blocks=cfg["nMidBlocks"])
    levels = len(cfg["chMults"])
    # Level of each ResidualBlock, in construction order (UNet.swift's loops).
    down_levels, up_levels = [], []
    for i in range(levels):
        down_levels += [i] * cfg["nBlocks"] + ([None] if i < levels - 1 else [])
    for i in reversed(range(levels)):
        up_levels += [i] * (cfg["nBlocks"] + 1) + ([None] if i > 0 else [])
    for mods, lv in ((m.downs, down_levels), (m.middle, [levels - 1] * cfg["nMidBlocks"]), (m.ups, up_levels)):
        assert len(mods) == len(lv)
        for blk, level in zip(mods, lv):
            if level is not None and level in cfg["attention"]:
                blk.__class__ = ResidualAttentionBlock
                blk.attn = AttentionBlock(blk.conv2.out_channels, num_heads=4)
    for mod in m.modules():
        if isinstance(mod, nn.GroupNorm):
            mod.num_groups = cfg["groups"]
        if isinstance(mod, nn.Dropout):
            mod.p = cfg["dropout"]
    if cfg.get("learnSigma"):
        conv = m.conv_out[2]
        m.conv_out[2] = nn.Conv2d(conv.in_channels, 2 * cfg["imageChannels"], 3, padding=1)
    if cfg.get("selfCondition"):
        # Self-conditioning: conv_in reads x_t and an x0 estimate, torch.cat([x_t, x0_est], dim=1)
        # (zeros for none; in sampling the previous step's x0-hat).
        m.conv_in = nn.Conv2d(2 * cfg["imageChannels"], m.conv_in.out_channels, 3, padding=1)
    return m


# ---------------------------------------------------------------- schedules (NoiseSchedule.swift)

def check_config(cfg):
    """UNetConfig.validate's rules plus what ddpm opens (28...32 pixels, evenly padded):
    a run that ends in a file ddpm refuses is stopped before it starts."""
    c, mults, size, groups = cfg["nChannels"], cfg["chMults"], cfg["imageSize"], cfg["groups"]
    problems = []
    if not 1 <= groups <= 64:
        problems.append(f"--groups must be in 1...64, got {groups}")
    elif c < 1 or c % groups or c > 1024:
        problems.append(f"--channels must be a positive multiple of {groups} (the GroupNorm groups) up to 1024, got {c}")
    if not 1 <= len(mults) <= 6 or any(m < 1 or c * m > 1024 for m in mults):
        problems.append(f"--mults needs 1...6 levels, each >= 1 with channels x mult <= 1024, got {mults}")
    if not 1 <= cfg["nBlocks"] <= 8 or not 0 <= cfg["nMidBlocks"] <= 8:
        problems.append(f"--blocks must be in 1...8 and --mid-blocks in 0...8, got {cfg['nBlocks']}, {cfg['nMidBlocks']}")
    if size not in (28, 30, 32):
        problems.append(f"--size must be 28 or 32 (ddpm draws 28x28 images, padded evenly), got {size}")
    elif size % (1 << (len(mults) - 1)) and not problems:
        problems.append(f"{size}x{size} cannot be halved {len(mults) - 1} times: a {len(mults)}-level model needs --size 32")
    if len(set(cfg["attention"])) != len(cfg["attention"]) or any(not 0 <= a < len(mults) for a in cfg["attention"]):
        problems.append(f"--attention levels {cfg['attention']} must be distinct indices into --mults (0..{len(mults) - 1})")
    elif any((c * mults[a]) % 4 for a in cfg["attention"]):
        problems.append("attention needs a level's channels to split into 4 heads")
    if not 0 <= cfg["dropout"] < 1:
        problems.append(f"--dropout must be in [0, 1), got {cfg['dropout']}")
    return problems


def check_options(opts):
    """TrainOptions.validate's ranges."""
    problems = []
    if not 1 <= opts["batch"] <= 4096:
        problems.append(f"--batch must be in 1...4096, got {opts['batch']}")
    if not 0 < opts["lr"] < 1:
        problems.append(f"--lr must be in (0, 1), got {opts['lr']}")
    if not 0 <= opts["warmup"] <= 1_000_000:
        problems.append(f"--warmup must be in 0...1000000, got {opts['warmup']}")
    if not 0 <= opts["emaDecay"] < 1:
        problems.append(f"--ema must be in [0, 1), got {opts['emaDecay']}")
    if not (opts["gradClip"] > 0 and math.isfinite(opts["gradClip"])):
        problems.append(f"--grad-clip must be positive, got {opts['gradClip']}")
    if not (opts["minSnrGamma"] > 0 and math.isfinite(opts["minSnrGamma"])):
        problems.append(f"--min-snr-gamma must be positive, got {opts['minSnrGamma']}")
    spec = opts["schedule"]
    if not 2 <= spec["T"] <= 100_000:
        problems.append(f"--T must be in 2...100000, got {spec['T']}")
    if not 0 < spec["betaStart"] <= spec["betaEnd"] < 1:
        problems.append(f"need 0 < --beta-start <= --beta-end < 1, got {spec['betaStart']}, {spec['betaEnd']}")
    return problems


def make_betas(kind, T, beta_start, beta_end):
    if kind == "linear":
        return np.linspace(beta_start, beta_end, T, dtype=np.float64)
    u = np.linspace(0, 1, T, dtype=np.float64)
    if kind == "quadratic":
        return beta_start + (beta_end - beta_start) * u * u
    if kind == "sigmoid":
        return beta_start + (beta_end - beta_start) / (1 + np.exp(-np.linspace(-6, 6, T, dtype=np.float64)))
    if kind == "cosine":
        s = 0.008
        f = lambda k: np.cos(((k / T) + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
        k = np.arange(T, dtype=np.float64)
        return np.clip(1 - (f(k + 1) / f(0)) / (f(k) / f(0)), 1e-4, 0.9999)
    raise SystemExit(f"unknown --schedule {kind!r} (linear, cosine, quadratic or sigmoid)")


def schedule_tables(spec):
    b = make_betas(spec["kind"], spec["T"], spec["betaStart"], spec["betaEnd"])
    ab = np.cumprod(1.0 - b)
    ab_prev = np.append(1.0, ab[:-1])
    post_var = b * (1.0 - ab_prev) / (1.0 - ab)
    return dict(betas=b, ab=ab, snr=ab / (1 - ab), T=spec["T"],
                post_lv_clipped=np.log(np.append(post_var[1], post_var[1:])),
                c1=b * np.sqrt(ab_prev) / (1.0 - ab), c2=(1.0 - ab_prev) * np.sqrt(1.0 - b) / (1.0 - ab))


def loss_weights(s, t, weighting, objective, gamma):
    """Weighting.swift, with the ε-scale conversion Trainer.swift applies for x0 and v."""
    snr, b, ab = s["snr"][t], s["betas"][t], s["ab"][t]
    if weighting == "simple":
        return np.ones_like(snr)
    w = {"snr": 1 / (1 + snr), "min-snr": np.minimum(snr, gamma) / snr,
         "importance": b * b / (2 * b * (1 - b) * (1 - ab))}[weighting]
    return w * {"eps": 1.0, "x0": snr, "v": ab}[objective]


def lr_at(step, base, warmup, total):
    """LRSchedule.swift: linear warm-up, then cosine decay to zero (0-based step)."""
    if step < warmup:
        return base * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * 0.5 * (1 + math.cos(math.pi * p))


# ---------------------------------------------------------------- data

def read_idx(path):
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_images(folder, limit, size):
    if not os.path.isdir(folder):
        raise SystemExit(f"--data {folder}: " + ("is a file; give the folder that holds train-images-idx3-ubyte[.gz]"
                                                  if os.path.exists(folder) else "no such folder"))
    for name in ("train-images-idx3-ubyte.gz", "train-images-idx3-ubyte", "train-images-idx3.idx"):
        if os.path.exists(os.path.join(folder, name)):
            imgs = read_idx(os.path.join(folder, name))
            break
    else:
        raise SystemExit(f"{folder}: no train-images-idx3-ubyte[.gz] here (an MNIST-style IDX folder is needed)")
    # As ddpm train: a smaller set is padded evenly with background, a larger one refused.
    if imgs.ndim != 3 or imgs.shape[1] != imgs.shape[2] or imgs.shape[1] > size or (size - imgs.shape[1]) % 2:
        raise SystemExit(f"{folder}: images of shape {imgs.shape[1:]} do not fit a {size}x{size} model"
                         + (" (--size 32)" if imgs.ndim == 3 and imgs.shape[1] == 32 else ""))
    if limit:
        imgs = imgs[:limit]
    x = torch.from_numpy(imgs.astype(np.float32) / 127.5 - 1).unsqueeze(1)  # Dataset: [-1, 1]
    pad = (size - imgs.shape[1]) // 2
    return F.pad(x, (pad, pad, pad, pad), value=-1.0) if pad else x  # Dataset.padded: background -1


def batch_indices(n, batch, seed, step):
    """The global batch of 0-based `step`: epoch e walks a permutation of its own."""
    per_epoch = max(1, n // batch)
    e, pos = divmod(step, per_epoch)
    perm = np.random.default_rng([seed, 0xDA7A, e]).permutation(n)
    return perm[pos * batch:(pos + 1) * batch]


def step_seed(seed, step, rank):
    return ((seed * 1_000_003 + step) * 4099 + rank) % (1 << 62)


# ---------------------------------------------------------------- one step (Trainer.trainStep)

def loss_and_gradients(net, model, x0, t, noise, opts, s):
    """q_sample, the weighted loss on the objective's target (plus the hybrid term of a
    learned variance), its gradients, clipped to --grad-clip. `net` is `model` or its DDP wrapper."""
    dev = x0.device
    ab = torch.from_numpy(s["ab"][t.numpy()]).float().view(-1, 1, 1, 1).to(dev)
    xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
    target = {"eps": noise, "x0": x0, "v": ab.sqrt() * noise - (1 - ab).sqrt() * x0}[opts["_objective"]]
    w = torch.from_numpy(loss_weights(s, t.numpy(), opts["weighting"], opts["_objective"],
                                      opts["minSnrGamma"])).float().to(dev)
    out = net(xt, t.to(dev))
    cfg = opts["config"]
    d = out[:, :cfg["imageChannels"]] - target
    per = (d * d if opts["loss"] == "mse" else d.abs()).mean(dim=(1, 2, 3))
    loss = (w * per).mean()
    if cfg.get("learnSigma"):
        _, vb, _ = hybrid_loss(out, x0, xt, noise, t.to(dev), s)
        loss = loss + (vb * s["T"] / 1000.0).mean()
    for p in model.parameters():
        p.grad = None
    loss.backward()
    return loss, torch.nn.utils.clip_grad_norm_(model.parameters(), opts["gradClip"])


def update(model, ema, opt, decay):
    """Adam at the rate set on `opt`, then the EMA."""
    opt.step()
    with torch.no_grad():
        for pe, p in zip(ema.parameters(), model.parameters()):
            pe.lerp_(p, 1 - decay)


# ---------------------------------------------------------------- files

def encode(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def write_weights(path, model, opts, step, epochs, loss, command, extra):
    """The EMA weights under the reference's names, with Trainer.metadata's keys."""
    tensors = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}
    public = {k: v for k, v in opts.items() if not k.startswith("_")}  # TrainOptions' JSON
    meta = {"format": "ddpm-explorer weights 1", "config": encode(opts["config"]), "schedule": encode(opts["schedule"]),
            "options": encode(public), "objective": opts["_objective"], "step": str(step),
            "epochs": f"{epochs:.3f}", "loss": repr(float(loss)), "command": command, "data": opts["_data"]}
    meta.update(extra)
    tmp = path + ".tmp"
    save_file(tensors, tmp, metadata=meta)
    os.replace(tmp, path)


# ---------------------------------------------------------------- main

# What --resume may change (as ddpm train --resume); anything else comes from the checkpoint.
RESUME_MAY_CHANGE = {"steps", "epochs", "lr", "ema", "stop_at", "out", "checkpoint", "checkpoint_every", "resume",
                     "device", "probe", "log_every"}


def options_from_args(args):
    """A new run's options (TrainOptions' fields; _objective, _data and _limit besides)."""
    base = CONFIGS.get(args.config.lower())
    if base is None:
        raise SystemExit(f"unknown --config {args.config!r} (tiny or small; widths with --channels/--mults)")
    try:
        mults = [int(v) for v in args.mults.split(",")] if args.mults else base["chMults"]
        attention = [int(v) for v in args.attention.split(",") if v.strip()]
    except ValueError:
        raise SystemExit(f"--mults and --attention take numbers like 1,2,2 (got {args.mults!r}, {args.attention!r})")
    cfg = dict(nChannels=args.channels or base["nChannels"], chMults=mults, nBlocks=args.blocks,
               nMidBlocks=args.mid_blocks, imageChannels=1, imageSize=args.size or base["imageSize"],
               dropout=args.dropout, groups=args.groups, attention=attention)
    if args.learn_sigma:
        if args.objective != "eps":
            raise SystemExit("--learn-sigma trains with the eps objective")
        cfg["learnSigma"] = True
    spec = dict(kind=args.schedule, T=args.T, betaStart=args.beta_start, betaEnd=args.beta_end)
    return dict(config=cfg, schedule=spec, batch=args.batch, lr=args.lr, warmup=args.warmup, loss=args.loss,
                weighting=args.weighting, emaDecay=args.ema, seed=args.seed, gradClip=args.grad_clip,
                minSnrGamma=args.min_snr_gamma, _objective=args.objective,
                _data=os.path.abspath(args.data), _limit=args.limit)


def _cfg(key):
    return lambda o: o["config"].get(key, False if key == "learnSigma" else None)


# Where each flag lands in the options (what --resume compares).
ARG_PATHS = {
    "config": [_cfg("nChannels"), _cfg("chMults"), _cfg("imageSize")], "channels": [_cfg("nChannels")],
    "mults": [_cfg("chMults")], "blocks": [_cfg("nBlocks")], "mid_blocks": [_cfg("nMidBlocks")],
    "attention": [_cfg("attention")], "size": [_cfg("imageSize")], "groups": [_cfg("groups")],
    "dropout": [_cfg("dropout")], "learn_sigma": [_cfg("learnSigma")],
    "schedule": [lambda o: o["schedule"]["kind"]], "T": [lambda o: o["schedule"]["T"]],
    "beta_start": [lambda o: o["schedule"]["betaStart"]], "beta_end": [lambda o: o["schedule"]["betaEnd"]],
    "objective": [lambda o: o["_objective"]], "weighting": [lambda o: o["weighting"]],
    "min_snr_gamma": [lambda o: o["minSnrGamma"]], "loss": [lambda o: o["loss"]], "batch": [lambda o: o["batch"]],
    "warmup": [lambda o: o["warmup"]], "grad_clip": [lambda o: o["gradClip"]], "seed": [lambda o: o["seed"]],
    "data": [lambda o: o["_data"]], "limit": [lambda o: o["_limit"]],
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--config", default="tiny", help="tiny (16 channels, 1,2,2, 28x28) or small (32, 1,2,2,4, 32x32)")
    p.add_argument("--channels", type=int, help="n_channels (width of the first level)")
    p.add_argument("--mults", help="ch_mults, e.g. 1,2,2,4")
    p.add_argument("--blocks", type=int, default=2, help="ResidualBlocks per level on the way down")
    p.add_argument("--mid-blocks", type=int, default=2)
    p.add_argument("--attention", default="", help="levels with attention, e.g. 2 or 1,2")
    p.add_argument("--size", type=int, choices=(28, 32), help="input side (default: the config's)")
    p.add_argument("--groups", type=int, default=8)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--learn-sigma", action="store_true", help="also learn the variance (improved DDPM's hybrid loss)")
    p.add_argument("--schedule", default="linear", choices=("linear", "cosine", "quadratic", "sigmoid"))
    p.add_argument("-T", "--T", type=int, default=1000)
    p.add_argument("--beta-start", type=float, default=1e-4)
    p.add_argument("--beta-end", type=float, default=0.02)
    p.add_argument("--objective", default="eps", choices=("eps", "x0", "v"))
    p.add_argument("--weighting", default="simple", choices=("simple", "snr", "min-snr", "importance"))
    p.add_argument("--min-snr-gamma", type=float, default=5.0)
    p.add_argument("--loss", default="mse", choices=("mse", "l1"))
    p.add_argument("--batch", type=int, default=64, help="global batch (split evenly across processes)")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--steps", type=int, help=f"total steps (the cosine ends here; default {FULL_EPOCHS} epochs)")
    p.add_argument("--epochs", type=float)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=os.path.join(HERE, "..", "assets", "mnist"), help="IDX folder (default: the bundled MNIST)")
    p.add_argument("--limit", type=int, help="use only the first N training images")
    p.add_argument("--out", required=True, help="EMA weights (safetensors) for ddpm")
    p.add_argument("--checkpoint", help="full training state for --resume (default: OUT.pt)")
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    p.add_argument("--stop-at", type=int, help="stop (and save) after this step, as an interruption would")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--probe", help="after the last step, write the EMA model's output on a fixed batch here")
    p.add_argument("--log-every", type=int, default=100)
    args = p.parse_args(argv)
    args.given = {k for k, v in vars(args).items() if v != p.get_default(k)}
    return args


def main():
    args = parse_args()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device(f"cuda:{local_rank}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world > 1:
        dist.init_process_group("nccl" if cuda else "gloo")
    log = (lambda *a: print(*a, flush=True)) if rank == 0 else (lambda *a: None)
    ckpt_path = args.checkpoint or args.out + ".pt"

    fresh = options_from_args(args)
    if args.resume:
        if not os.path.exists(ckpt_path):
            raise SystemExit(f"--resume: no checkpoint {ckpt_path} (the state a run keeps beside --out; --checkpoint names another)")
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        opts = state["options"]
        cfg, spec = opts["config"], opts["schedule"]
        # Flags given that contradict the run (repeating them unchanged is fine).
        changed = [f for f in sorted(args.given - RESUME_MAY_CHANGE)
                   if any(get(fresh) != get(opts) for get in ARG_PATHS.get(f, []))]
        if changed:
            raise SystemExit("--resume continues the checkpoint's run with its model, data and options; "
                             f"these differ from it: {', '.join('--' + f.replace('_', '-') for f in changed)} "
                             "(--steps, --epochs, --lr and --ema may change)")
        if state.get("world", world) != world:
            log(f"warning: the run had {state['world']} processes and continues with {world}: "
                "the random draws of each step differ from an uninterrupted run")
        if "lr" in args.given:
            opts["lr"] = args.lr
        if "ema" in args.given:
            opts["emaDecay"] = args.ema
    else:
        opts = fresh
        cfg, spec = opts["config"], opts["schedule"]
    problems = check_config(cfg) + check_options(opts)
    if problems:
        raise SystemExit("\n".join(problems))
    if args.steps is not None and args.epochs is not None:
        raise SystemExit("give --steps or --epochs, not both")
    if args.steps is not None and args.steps < 1:
        raise SystemExit(f"--steps must be >= 1, got {args.steps}")
    if args.epochs is not None and not args.epochs > 0:
        raise SystemExit(f"--epochs must be > 0, got {args.epochs}")

    data = load_images(opts["_data"], opts["_limit"], cfg["imageSize"]).to(device)
    n = data.shape[0]
    batch = min(opts["batch"], n)
    if batch % world:
        raise SystemExit(f"--batch {batch} does not split evenly across {world} processes")
    per_epoch = max(1, n // batch)
    if not args.resume:
        opts["totalSteps"] = args.steps or max(1, round((args.epochs or FULL_EPOCHS) * per_epoch))
    elif args.steps or args.epochs:
        # a longer (or shorter) cosine from here, as ddpm train --resume --steps
        opts["totalSteps"] = args.steps or max(1, round(args.epochs * per_epoch))
    total = opts["totalSteps"]
    warmup = min(opts["warmup"], total // 10)  # Trainer.swift
    s = schedule_tables(spec)
    T = spec["T"]

    torch.manual_seed(args.seed if not args.resume else opts["seed"])
    model = build_model(cfg).to(device)
    ema = build_model(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=opts["lr"], betas=(0.9, 0.999), eps=1e-8)
    step = 0
    if args.resume:
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["optimizer"])
        step = state["step"]
        log(f"resumed {ckpt_path} at step {step}")
    else:
        ema.load_state_dict(model.state_dict())
    ema.eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    net = nn.parallel.DistributedDataParallel(model, device_ids=[local_rank] if cuda else None) if world > 1 else model

    command = " ".join(["train_torch.py"] + sys.argv[1:])
    started, first = time.time(), step
    nparams = sum(p.numel() for p in model.parameters())
    if nparams > 64 << 20:
        raise SystemExit(f"{nparams:,} parameters: more than the 64M ddpm loads (Checkpoint.maxParameters)")
    log(f"training {encode(cfg)} ({nparams:,} parameters) on {n} images, global batch {batch} "
        f"over {world} process(es) on {device.type}, steps {step}..{total}")

    stop = {"flag": 0}
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.__setitem__("flag", 1))

    def save(step, loss):
        if rank != 0:
            return
        epochs = step / per_epoch
        extra = {"trainer": f"scripts/train_torch.py, torch {torch.__version__}, {world} process(es) on {device.type}",
                 "wall_time_s": str(int(time.time() - started))}
        write_weights(args.out, ema, opts, step, epochs, loss, command, extra)
        tmp = ckpt_path + ".tmp"
        torch.save(dict(model=model.state_dict(), ema=ema.state_dict(), optimizer=opt.state_dict(), step=step,
                        options=opts, world=world), tmp)
        os.replace(tmp, ckpt_path)

    end = total if args.stop_at is None else min(total, args.stop_at)
    if end <= step:
        raise SystemExit(f"nothing to train: the run is at step {step} and would stop at {end} "
                         f"(--steps {total}{'' if args.stop_at is None else f', --stop-at {args.stop_at}'})")
    b_local = batch // world
    loss_val = float("nan")
    model.train()
    while step < end:
        g = torch.Generator().manual_seed(step_seed(opts["seed"], step, rank))
        torch.manual_seed(step_seed(opts["seed"], step, rank) ^ 0x5EED)  # dropout
        idx = batch_indices(n, batch, opts["seed"], step)[rank * b_local:(rank + 1) * b_local]
        x0 = data[torch.from_numpy(idx).to(device)]
        t = torch.randint(0, T, (b_local,), generator=g)
        noise = torch.randn(x0.shape, generator=g).to(device)
        for gr in opt.param_groups:
            gr["lr"] = lr_at(step, opts["lr"], warmup, total)
        loss, gnorm = loss_and_gradients(net, model, x0, t, noise, opts, s)
        loss_all = loss.detach().clone()
        flag = torch.tensor([float(stop["flag"])], device=device)
        if world > 1:
            dist.all_reduce(loss_all)
            loss_all /= world
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        loss_val = loss_all.item()
        if not (math.isfinite(loss_val) and torch.isfinite(gnorm)):
            raise SystemExit(f"step {step + 1}: loss {loss_val} is not finite; the last checkpoint is kept")
        update(model, ema, opt, opts["emaDecay"])
        step += 1
        if step % args.log_every == 0 or step == end:
            rate = (step - first) / max(1e-9, time.time() - started)
            log(f"step {step}/{total} loss {loss_val:.4f} lr {lr_at(step - 1, opts['lr'], warmup, total):.2e} "
                f"{rate * batch:.0f} img/s")
        if step % args.checkpoint_every == 0 or step == end or flag.item() > 0:
            save(step, loss_val)
        if flag.item() > 0:
            log(f"stopped at step {step}; --resume continues")
            break

    if args.probe and rank == 0:
        gp = torch.Generator().manual_seed(7)
        size = cfg["imageSize"]
        x = torch.randn(4, cfg["imageChannels"], size, size, generator=gp)
        tp = torch.tensor([0, T // 3, 2 * T // 3, T - 1])
        with torch.no_grad():
            y = ema.cpu()(x, tp)
        save_file({"x": x, "t": tp.float(), "out": y.contiguous()}, args.probe,
                  metadata={"weights": os.path.basename(args.out), "step": str(step)})
        log(f"wrote {args.probe}")
    log(f"wrote {args.out} (EMA weights, step {step}) and {ckpt_path}")
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
