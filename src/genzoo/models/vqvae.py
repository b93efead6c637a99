"""VQ-VAE: a discrete VAE whose latent is a grid of codebook indices.

The encoder maps an image to a grid of vectors z_e (B, D, h, w); each is replaced by its nearest
of K codebook vectors e_k, z_q = e_{argmin_k ||z_e - e_k||}, and the decoder reconstructs the
image from z_q. The argmin has no gradient: the straight-through estimator copies the decoder's
gradient from z_q to z_e (``z_q = z_e + sg(e - z_e)``). Loss (van den Oord et al. 2017, eq. (3))::

    L = recon(x, dec(z_q)) + ||sg(z_e) - e||^2 + beta ||z_e - sg(e)||^2

The codebook term is replaced, with ``ema: true``, by exponential moving averages of the
assignment counts N_k and of the sums m_k of the vectors assigned to each code, e_k = m_k / N_k
(Laplace-smoothed counts; appendix A.1). Codes nobody uses ("dead" codes, whose moving-average
assignment count falls below ``dead_below`` per step) are restarted at random encoder outputs
of the current batch (Dhariwal et al. 2020, section 2.2). The logs carry the codebook perplexity
exp(-sum_k p_k log p_k) of the batch's assignments (K when all codes are used equally, 1 when
one code takes everything) and the number of dead codes.

There is no learned prior over the codes here (the paper fits a PixelCNN on them), so the
method reconstructs and encodes but does not sample; ``genzoo cluster`` turns its codes into
pseudo-labels.

References:
    van den Oord, Vinyals & Kavukcuoglu, "Neural Discrete Representation Learning", NeurIPS
    2017 (eq. (3); appendix A.1, the EMA codebook updates).
    Bengio, Leonard & Courville, "Estimating or Propagating Gradients Through Stochastic
    Neurons", 2013 (the straight-through estimator).
    Dhariwal, Jun, Payne, Kim, Radford & Sutskever, "Jukebox: A Generative Model for Music",
    2020, section 2.2 (random restarts of codes whose usage falls below a threshold).

Example:
    >>> from genzoo.data import load_dataset
    >>> quick = ["data.limit=64", "data.val_limit=64", "train.steps=2"]   # a 2-step run
    >>> vq = genzoo.load(genzoo.train("vqvae-mnist", quick, quiet=True))
    >>> x = vq.prepare(load_dataset("mnist", "test").x[:8]).x   # uint8 -> [0, 1]
    >>> codes = vq.encode(x)                                # a 2x2 grid of code indices
    >>> codes.shape, codes.dtype
    (torch.Size([8, 2, 2]), torch.int64)
    >>> vq.decode_codes(codes).shape
    torch.Size([8, 1, 28, 28])
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.config import param
from genzoo.data.base import Dataset, DatasetInfo
from genzoo.errors import ConfigError
from genzoo.models.base import Batch, LossOutput, Method
from genzoo.nets.spatial import SpatialDecoder, SpatialEncoder
from genzoo.registry import methods


@dataclass
class VQVAEConfig:
    """``model:`` section of a VQ-VAE preset."""

    width: int = param(64, "channels of the encoder and decoder convolutions", ge=1)
    stages: int = param(2, "strided stages: the latent grid is the image size / 2**stages "
                           "(images are zero-padded to a multiple of 2**stages)", ge=1)
    res_blocks: int = param(2, "residual blocks after the encoder's / before the decoder's "
                               "strided stages", ge=0)
    latent_dim: int = param(16, "size D of each latent and codebook vector", ge=1)
    codebook_size: int = param(64, "number K of codebook vectors", ge=2)
    beta: float = param(0.25, "weight of the commitment loss ||z_e - sg(e)||^2", ge=0)
    ema: bool = param(True, "update the codebook by exponential moving averages of the "
                            "assigned encoder outputs instead of by its loss gradient")
    decay: float = param(0.99, "decay of the moving averages (EMA codebook, code usage)",
                         gt=0, lt=1)
    eps: float = param(1e-5, "Laplace smoothing of the EMA assignment counts", gt=0)
    restart_dead: bool = param(True, "restart dead codes at random encoder outputs of the "
                                     "batch")
    dead_below: float = param(0.03, "a code is dead when its moving-average number of "
                                    "assigned vectors per step falls below this", ge=0)
    recon: Literal["bce", "mse"] = param(
        "bce", "reconstruction loss per pixel: Bernoulli cross-entropy of the decoder's logits "
        "against the grey levels (images in [0, 1]), or the squared error of its output")


@dataclass
class Quantized:
    """What :class:`VectorQuantizer` returns for a latent grid z_e (B, D, h, w)."""

    z_q: Tensor          # (B, D, h, w) straight-through: value e_k, gradient to z_e
    indices: Tensor      # (B, h, w) int64 code of each cell
    codebook_loss: Tensor  # ||sg(z_e) - e||^2, mean over elements (0 with the EMA codebook)
    commitment: Tensor   # ||z_e - sg(e)||^2, mean over elements
    counts: Tensor       # (K,) number of cells assigned to each code


class VectorQuantizer(nn.Module):
    """Nearest-neighbour quantization of vectors against a codebook (K, D), with the
    straight-through estimator, optional EMA updates and restarts of dead codes.

    Buffers: ``ema_count`` (K,) and ``ema_sum`` (K, D) (the EMA statistics N_k, m_k) and
    ``usage`` (K,) (the moving-average assignment count per step, which decides deadness);
    all are saved with the weights, so a resumed run continues exactly.
    """

    def __init__(self, cfg: VQVAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        k, d = cfg.codebook_size, cfg.latent_dim
        self.codebook = nn.Parameter(torch.empty(k, d).uniform_(-1 / k, 1 / k),
                                     requires_grad=not cfg.ema)
        self.register_buffer("ema_count", torch.ones(k))
        self.register_buffer("ema_sum", self.codebook.detach().clone())
        self.register_buffer("usage", torch.ones(k))

    def nearest(self, z: Tensor) -> Tensor:
        """Index (N,) of the nearest codebook vector to each row of z (N, D)."""
        e = self.codebook
        dist = (z * z).sum(1, keepdim=True) - 2 * z @ e.t() + (e * e).sum(1)
        return dist.argmin(1)

    def forward(self, z_e: Tensor) -> Quantized:
        """Quantize encoder maps (B, D, h, w). Runs in float32 whatever the autocast around
        it (a bf16 distance would pick wrong codes, and the codebook statistics are float32);
        the straight-through gradient reaches ``z_e`` through the cast."""
        with torch.autocast(z_e.device.type, enabled=False):
            return self._quantize(z_e.float())

    def _quantize(self, z_e: Tensor) -> Quantized:
        b, d, h, w = z_e.shape
        z = z_e.permute(0, 2, 3, 1).reshape(-1, d)
        indices = self.nearest(z.detach())
        e = self.codebook[indices]
        counts = torch.bincount(indices, minlength=self.cfg.codebook_size)
        if self.training:
            self.update(z.detach(), indices, counts)  # e keeps the codebook it was chosen from
        commitment = F.mse_loss(z, e.detach())
        codebook_loss = z.new_zeros(()) if self.cfg.ema else F.mse_loss(e, z.detach())
        z_q = z + (e - z).detach()
        z_q = z_q.view(b, h, w, d).permute(0, 3, 1, 2)
        return Quantized(z_q, indices.view(b, h, w), codebook_loss, commitment, counts)

    @torch.no_grad()
    def update(self, z: Tensor, indices: Tensor, counts: Tensor) -> None:
        """One training step of the moving averages (and of the EMA codebook), then restarts.

        Args:
            z: the batch's encoder outputs (N, D); indices (N,) their codes; counts (K,).
        """
        cfg, g = self.cfg, self.cfg.decay
        counts = counts.to(z.dtype)
        self.usage.mul_(g).add_(counts, alpha=1 - g)
        if cfg.ema:
            sums = torch.zeros_like(self.ema_sum).index_add_(0, indices, z)
            self.ema_count.mul_(g).add_(counts, alpha=1 - g)
            self.ema_sum.mul_(g).add_(sums, alpha=1 - g)
            n = self.ema_count.sum()
            smoothed = (self.ema_count + cfg.eps) / (n + cfg.codebook_size * cfg.eps) * n
            self.codebook.copy_(self.ema_sum / smoothed[:, None])
        dead = self.usage < cfg.dead_below
        if cfg.restart_dead and dead.any():
            pick = torch.randint(0, len(z), (int(dead.sum()),), device=z.device)
            self.codebook[dead] = z[pick]
            self.ema_sum[dead] = z[pick]
            self.ema_count[dead] = 1.0
            self.usage[dead] = 1.0


def perplexity(counts: Tensor) -> float:
    """exp of the entropy of the code frequencies ``counts`` (K,): K when uniform, 1 when one
    code takes all."""
    p = counts.double() / counts.sum().clamp_min(1)
    return math.exp(-(p * p.clamp_min(1e-30).log()).sum().item())


@methods.register("vqvae")
class VQVAE(Method):
    """Encoder -> vector quantizer -> decoder; images in [0, 1]. ``loss`` is eq. (3) with the
    reconstruction term averaged per pixel; ``encode`` gives the code grid (B, h, w)."""

    Config = VQVAEConfig
    data_range = (0.0, 1.0)
    capabilities = frozenset({"codes", "features", "figures"})
    name = "vqvae"

    def __init__(self, cfg: VQVAEConfig, info: DatasetInfo) -> None:
        super().__init__(cfg, info)
        if info.kind != "image":
            raise ConfigError(f"the VQ-VAE models images; dataset {info.name!r} holds vectors")
        c = info.shape[0]
        self.encoder = SpatialEncoder(c, cfg.latent_dim, cfg.width, cfg.stages, cfg.res_blocks)
        self.decoder = SpatialDecoder(cfg.latent_dim, c, cfg.width, cfg.stages, cfg.res_blocks)
        self.quantizer = VectorQuantizer(cfg)
        # zero-pad each side to a multiple of 2**stages so that every stage halves the size
        # exactly (28 -> 32 for 3-5 stages); reconstructions are cropped back
        unit = 2**cfg.stages
        pads = [(-n) % unit for n in info.shape[1:]]
        self.padding = (pads[1] // 2, pads[1] - pads[1] // 2, pads[0] // 2, pads[0] - pads[0] // 2)
        with torch.no_grad():
            grid = self.encoder(self._pad(torch.zeros(1, *info.shape)))
        self.grid = tuple(grid.shape[2:])

    # ---------------------------------------------------------------- the math
    def _pad(self, x: Tensor) -> Tensor:
        return F.pad(x, self.padding) if any(self.padding) else x

    def _decode(self, z_q: Tensor) -> Tensor:
        """Decoder output (logits or means) cropped to the image size: (B, C, H, W)."""
        out = self.decoder(z_q)
        left, _, top, _ = self.padding
        h, w = self.info.shape[1:]
        return out[:, :, top:top + h, left:left + w]

    def _output(self, logits: Tensor) -> Tensor:
        return torch.sigmoid(logits) if self.cfg.recon == "bce" else logits.clamp(0, 1)

    def _recon_loss(self, logits: Tensor, x: Tensor) -> Tensor:
        if self.cfg.recon == "bce":
            return F.binary_cross_entropy_with_logits(logits, x)
        return F.mse_loss(logits, x)

    def loss(self, batch: Batch) -> LossOutput:
        x = batch.x
        q = self.quantizer(self.encoder(self._pad(x)))
        logits = self._decode(q.z_q)
        recon = self._recon_loss(logits, x)
        loss = recon + q.codebook_loss + self.cfg.beta * q.commitment
        with torch.no_grad():
            mse = F.mse_loss(self._output(logits), x).item()
        return LossOutput(loss, {
            "recon": recon.item(), "mse": mse, "commitment": q.commitment.item(),
            "codebook": q.codebook_loss.item(), "perplexity": perplexity(q.counts),
            "codes_used": float((q.counts > 0).sum()),
            "dead_codes": float((self.quantizer.usage < self.cfg.dead_below).sum())})

    @torch.no_grad()
    def evaluate(self, batches: Iterable[Batch]) -> dict[str, float]:
        """Mean loss metrics over the batches, with ``perplexity`` and ``codes_used`` of the
        whole split's assignments (not the mean of per-batch values)."""
        counts = torch.zeros(self.cfg.codebook_size, device=self.device, dtype=torch.long)

        def tap(stream: Iterable[Batch]) -> Iterator[Batch]:
            for batch in stream:
                counts.add_(torch.bincount(self.encode(batch.x).flatten(),
                                           minlength=self.cfg.codebook_size))
                yield batch

        numbers = super().evaluate(tap(batches))
        numbers.update(perplexity=perplexity(counts), codes_used=float((counts > 0).sum()))
        return numbers

    # ---------------------------------------------------------------- public helpers
    @torch.no_grad()
    def encode(self, x: Tensor) -> Tensor:
        """Code indices (B, h, w) of images x (B, C, H, W) in [0, 1]."""
        z = self.encoder(self._pad(x))
        b, d, h, w = z.shape
        return self.quantizer.nearest(z.permute(0, 2, 3, 1).reshape(-1, d)).view(b, h, w)

    def embed(self, indices: Tensor) -> Tensor:
        """The quantized grid z_q (B, D, h, w) of code indices (B, h, w)."""
        return self.quantizer.codebook[indices].permute(0, 3, 1, 2)

    @torch.no_grad()
    def quantize(self, x: Tensor) -> Tensor:
        """z_q (B, D, h, w) of images x (B, C, H, W): the features ``genzoo cluster`` uses."""
        return self.embed(self.encode(x))

    @torch.no_grad()
    def features(self, x: Tensor) -> Tensor:
        """The flattened quantized grid (B, D * h * w) of images x: what ``genzoo cluster``
        clusters."""
        return self.quantize(x).flatten(1)

    @torch.no_grad()
    def decode_codes(self, indices: Tensor) -> Tensor:
        """Images (B, C, H, W) in [0, 1] decoded from code indices (B, h, w)."""
        return self._output(self._decode(self.embed(indices)))

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """dec(z_q(x)) (B, C, H, W) in [0, 1]."""
        return self.decode_codes(self.encode(x))

    def figures(self, out_dir: Path, train: Dataset | None, test: Dataset) -> dict[str, str]:
        """Reconstructions of test images and the codebook usage on the evaluated split (see
        :func:`genzoo.viz.vqvae.vqvae_figures`)."""
        from genzoo.viz.vqvae import vqvae_figures

        return vqvae_figures(self, out_dir, test)
