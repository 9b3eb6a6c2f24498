"""The reference model with a learned variance: SimpleDDPMUNet (../shared/reference/seed_unet.py)
whose output convolution has 2 * image_channels outputs, eps then v (improved DDPM's
learn_sigma). Our weights files of models trained with `ddpm train --learn-sigma` load into it:

    import sys; sys.path.insert(0, "scripts")
    from learned_sigma_unet import LearnedSigmaUNet, hybrid_loss
    m = LearnedSigmaUNet(image_channels=1, n_channels=16, ch_mults=(1, 2, 2))   # Tiny
    m.load_state_dict(safetensors.torch.load_file("lv.safetensors"))

hybrid_loss is improved-diffusion's L_simple + lambda L_vlb with the mean frozen in
L_vlb (their training_losses with learn_sigma, loss type RESCALED_MSE: vb * T/1000).
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "shared", "reference"))
from seed_unet import SimpleDDPMUNet  # noqa: E402


class LearnedSigmaUNet(SimpleDDPMUNet):
    def __init__(self, image_channels=1, **kw):
        super().__init__(image_channels=image_channels, **kw)
        conv = self.conv_out[2]
        self.conv_out[2] = nn.Conv2d(conv.in_channels, 2 * image_channels, 3, padding=1)


def linear_schedule(T=1000):
    betas = np.linspace(1e-4, 0.02, T, dtype=np.float64)
    ab = np.cumprod(1.0 - betas)
    ab_prev = np.append(1.0, ab[:-1])
    post_var = betas * (1.0 - ab_prev) / (1.0 - ab)
    post_lv_clipped = np.log(np.append(post_var[1], post_var[1:]))
    c1 = betas * np.sqrt(ab_prev) / (1.0 - ab)
    c2 = (1.0 - ab_prev) * np.sqrt(1.0 - betas) / (1.0 - ab)
    return dict(betas=betas, ab=ab, post_lv_clipped=post_lv_clipped, c1=c1, c2=c2, T=T)


def _at(a, t, like):
    return torch.from_numpy(a).to(like.dtype)[t].view(-1, *([1] * (like.dim() - 1)))


def normal_kl(m1, lv1, m2, lv2):
    return 0.5 * (-1.0 + lv2 - lv1 + torch.exp(lv1 - lv2) + (m1 - m2) ** 2 * torch.exp(-lv2))


def approx_cdf(x):
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def discretized_ll(x, means, log_scales):
    c = x - means
    inv = torch.exp(-log_scales)
    cdf_plus = approx_cdf(inv * (c + 1.0 / 255))
    cdf_min = approx_cdf(inv * (c - 1.0 / 255))
    return torch.where(x < -0.999, torch.log(cdf_plus.clamp(min=1e-12)),
                       torch.where(x > 0.999, torch.log((1.0 - cdf_min).clamp(min=1e-12)),
                                   torch.log((cdf_plus - cdf_min).clamp(min=1e-12))))


def hybrid_loss(out, x0, xt, noise, t, s):
    """Per-image mse and vb (bits/dim) and the mean of mse + vb * T/1000."""
    eps, v = out[:, :1], out[:, 1:]
    mse = ((eps - noise) ** 2).mean(dim=(1, 2, 3))
    eps_frozen = eps.detach()
    ab = _at(s["ab"], t, xt)
    x0_hat = (xt - torch.sqrt(1 - ab) * eps_frozen) / torch.sqrt(ab)
    c1, c2 = _at(s["c1"], t, xt), _at(s["c2"], t, xt)
    mean = c1 * x0_hat + c2 * xt
    min_lv, max_lv = _at(s["post_lv_clipped"], t, xt), torch.log(_at(s["betas"], t, xt))
    frac = (v + 1) / 2
    lv = frac * max_lv + (1 - frac) * min_lv
    kl = normal_kl(c1 * x0 + c2 * xt, min_lv, mean, lv).mean(dim=(1, 2, 3)) / math.log(2.0)
    nll = -discretized_ll(x0, mean, 0.5 * lv).mean(dim=(1, 2, 3)) / math.log(2.0)
    vb = torch.where(t == 0, nll, kl)
    return mse, vb, (mse + vb * s["T"] / 1000.0).mean()
