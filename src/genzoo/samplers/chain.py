"""Langevin sampling with a replay buffer, shared by the energy-based families (EBM, JEM).

:class:`BufferedLangevin` is a mixin for a :class:`~genzoo.models.base.Method` that defines
``energy(x, y=None)`` and holds ``self.buffer`` (a :class:`~genzoo.samplers.replay.ReplayBuffer`),
``self.box`` (the uniform-noise range), ``self.num_classes`` (None when unconditional) and
``cfg.sampler`` (:class:`SGLDConfig`) and ``cfg.init`` (``noise`` or ``buffer``). It provides the
chains used for training negatives and for sampling, the buffer's checkpointing, and the energy
figures. The chains are :func:`~genzoo.samplers.langevin.sgld` in the JEM/IGEBM form
``x <- clamp(x - a * clip(dE/dx) + s_t * eta)`` with the network in eval mode and only x
receiving gradients.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from genzoo.config import param
from genzoo.data.base import Dataset
from genzoo.errors import ConfigError, UserError
from genzoo.models.base import class_labels
from genzoo.runtime import kept_heap
from genzoo.samplers import langevin as chains
from genzoo.samplers.langevin import Schedule, energy_score, proximal_sgld, sgld, step_sizes
from genzoo.samplers.replay import Init, ReplayBuffer


@dataclass
class SGLDConfig:
    """SGLD in the JEM/IGEBM form ``x <- clamp(x - a * clip(dE/dx) + s * eta)``."""

    steps: int = param(60, "Langevin steps per training step", ge=0)
    step_size: float = param(0.01, "a: multiplies -dE/dx", gt=0)
    noise_scale: float = param(0.005, "s: std of the Gaussian noise per step (the first "
                               "step's under a schedule)", ge=0)
    noise_schedule: Schedule = param("constant", "noise over a chain: constant, or decreasing "
                                     "linearly or geometrically to noise_end")
    noise_end: float = param(0.001, "the last step's noise std under a schedule", gt=0)
    clip_grad: float | None = param(None, "clip each gradient entry to [-c, c]", gt=0)
    sample_steps: int = param(300, "steps of the chains of sample() from noise", ge=0)
    sample_init: Literal["noise", "buffer"] = param(
        "noise", "where sample() starts by default: fresh chains of sample_steps from noise, "
        "or replay-buffer items refined by buffer_steps")
    buffer_steps: int = param(0, "extra steps of sample() on buffer draws", ge=0)
    min_age: int = param(0, "sample() draws only buffer items whose chain has been run at "
                         "least this many times (leaves out recently re-initialized ones)",
                         ge=0)
    inner_steps: int = param(0, "JEM++ proximal SGLD: clipped inner steps through the first "
                             "layer after each full-gradient step (0: plain SGLD)", ge=0)
    inner_step: float = param(0.2, "proximal SGLD: step size of the inner steps", gt=0)
    inner_clip: float = param(1.0, "proximal SGLD: clip each inner-gradient entry to [-c, c]",
                              gt=0)
    channels_last: bool = param(True, "keep an image network's weights and the chains in "
                                "channels-last memory format (faster convolutions on CPU; the "
                                "same numbers to float tolerance)")
    precision: Literal["float32", "bf16"] = param(
        "float32", "the chains' forward and backward passes: float32, or bfloat16 autocast "
        "(about 2-3x faster on CPUs with AVX512-BF16 and on GPUs; gradients then differ from "
        "float32 by bf16 rounding); set apart from train.amp, whose autocast float32 chains "
        "switch off")
    compile: bool = param(False, "run the chains through torch.compile(net) (CPU inductor or "
                          "CUDA; the first chain pays the compilation)")
    keep_heap: bool = param(True, "CPU chains keep the memory they free mapped (glibc: no "
                            "trimming or mmap during a chain, see genzoo.runtime), "
                            "which spares a page fault per 4 KiB of activations and step")

    def noise(self, steps: int) -> list[float]:
        """``s_t`` for a chain of ``steps`` steps."""
        return step_sizes(self.noise_schedule, self.noise_scale, self.noise_end, steps)


GAP_MOMENTUM = 0.98  # the energy-gap guard's running mean spans about 50 steps


@dataclass
class ReplayConfig:
    """The replay-buffer keys of the buffered Langevin families (EBM and JEM ``model:``
    sections inherit them), and the energy-gap guard.

    ``max_gap`` turns a collapse of the chains into a divergence for the training loop's guard
    (``train.guard``): when the data stop reaching the buffer's samples, or the samples stop
    tracking the data, the contrastive gap ``E(x) - E(x')`` runs to the energy penalty's bound
    (``-1/alpha`` for an L2 weight ``alpha``) within a few hundred steps, while the loss stays
    finite. The guard then rolls back to the last checkpoint (weights and buffer)
    and multiplies the learning rate by ``train.guard.lr_factor``.
    """

    buffer_size: int = param(10000, "replay buffer capacity", ge=1)
    p_new: float = param(0.05, "probability a buffer draw is a fresh start", ge=0, le=1)
    p_new_decay: int = param(0, "if > 0, p_new falls linearly to 0 over this many training "
                             "draws (one per step and term); then only persistent chains", ge=0)
    buffer_uint8: bool = param(False, "store the buffer as uint8 (images; 1/4 of the memory)")
    max_gap: float | None = param(None, "energy-gap guard: a running mean (about 50 steps) of "
                                  "E(x) - E(x') beyond +-max_gap counts as divergence for "
                                  "train.guard (None: off)", gt=0)


class BufferedLangevin:
    """Training negatives and samples by SGLD chains from noise or a replay buffer.

    The host defines ``energy_of_output(out, y)``, the energy (B,) given the backbone's
    output ``out = self.net(x)``, so that proximal SGLD (``sampler.inner_steps`` > 0) can split
    the energy at the backbone's first layer (``net.stem`` / ``net.from_stem``).
    """

    def _build_buffer(self, init: Init) -> ReplayBuffer:
        """The replay buffer from the host's config keys (``buffer_size``, ``p_new``,
        ``p_new_decay``, ``buffer_uint8``), fresh items from ``init``, labels over
        ``self.num_classes`` (None: unlabelled), uint8 storage over ``self.box``."""
        cfg = self.cfg
        return ReplayBuffer(cfg.buffer_size, self.info.shape, init, cfg.p_new,
                            num_classes=self.num_classes,
                            uint8_range=self.box if cfg.buffer_uint8 else None,
                            p_new_decay=cfg.p_new_decay)

    def _prepare_sampler(self) -> None:
        """ConfigError when proximal SGLD is asked of a backbone without a stem split; puts an
        image network's weights in channels-last format (``sampler.channels_last``)."""
        if self.cfg.sampler.inner_steps and not hasattr(self.net, "from_stem"):
            raise ConfigError(f"sampler.inner_steps (proximal SGLD) needs a backbone with a "
                              f"first-layer split (cnn, wrn), not {self.cfg.net.name!r}")
        if self._channels_last:
            self.net.to(memory_format=torch.channels_last)

    @property
    def _channels_last(self) -> bool:
        return self.cfg.sampler.channels_last and len(self.info.shape) == 3

    @functools.cached_property
    def _compiled_net(self) -> torch.nn.Module:
        """``torch.compile(self.net)``, made once; cached in the instance ``__dict__``, so not
        registered as a submodule (no extra state-dict keys)."""
        return torch.compile(self.net)

    def energy(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """E(x) (B,) of inputs (B, *shape) in ``data_range``; with labels y (B,), E(x, y)."""
        return self.energy_of_output(self.net(x), y)

    def _clamp(self) -> tuple[float, float] | None:
        return self.box if self.info.value_range is not None else None

    def _check_labels(self, n: int, y: Tensor | None) -> Tensor | None:
        if y is None or self.num_classes is None:
            if y is not None:
                raise UserError(f"method {self.name!r} is unconditional: it takes no labels")
            return None
        return class_labels(y, n, self.num_classes, self.device)

    def langevin(self, x: Tensor, steps: int | None = None, y: Tensor | None = None) -> Tensor:
        """Run the configured SGLD from ``x`` (B, *shape), labels ``y`` held fixed, with the
        network in eval mode (no batch-norm statistics updated) and its weights frozen (only
        ``x`` gets gradients), in the sampler's memory format and precision
        (``sampler.channels_last``, ``sampler.precision``, ``sampler.compile``).

        Returns the chains' ends (B, *shape), contiguous."""
        s = self.cfg.sampler
        steps = s.steps if steps is None else steps
        was_training = self.training
        self.eval()
        try:
            return self._chains(x, steps, y)
        finally:
            self.train(was_training)

    def _chains(self, x: Tensor, steps: int, y: Tensor | None) -> Tensor:
        s = self.cfg.sampler
        if self._channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        device_type = x.device.type
        # the whole chain, backward passes included, in the sampler's own precision: an
        # enclosing autocast (train.amp) would otherwise also reach the backward's matmuls
        precision = torch.autocast(device_type, torch.bfloat16, enabled=s.precision == "bf16")
        keep = s.keep_heap and device_type == "cpu"
        with chains.frozen(self.net), kept_heap() if keep else contextlib.nullcontext(), \
                precision:
            if s.inner_steps:
                def head(z: Tensor) -> Tensor:
                    return self.energy_of_output(self.net.from_stem(z), y).float()

                x = proximal_sgld(self.net.stem, head, x, steps, s.step_size, s.noise(steps),
                                  inner_steps=s.inner_steps, inner_step=s.inner_step,
                                  inner_clip=s.inner_clip, clip_grad=s.clip_grad,
                                  clamp=self._clamp())
            else:
                net = self._compiled_net if s.compile else self.net

                def energy(v: Tensor) -> Tensor:
                    return self.energy_of_output(net(v), y).float()

                x = sgld(energy_score(energy), x, steps, s.step_size, s.noise(steps),
                         clip_grad=s.clip_grad, clamp=self._clamp())
        return x.contiguous()

    def _fresh(self, n: int, y: Tensor | None = None) -> Tensor:
        """``n`` fresh chain starts from the buffer's init (uniform noise, or JEM++'s class
        Gaussians for labels ``y``, uniform classes when None)."""
        if y is None and self.buffer.num_classes:
            y = torch.randint(self.buffer.num_classes, (n,), device=self.device)
        return self.buffer.init(n, self.device, self.info.shape, y)

    def negatives(self, n: int, y: Tensor | None = None) -> Tensor:
        """Negatives for one step: chains from fresh noise, or from the buffer and pushed back
        (with their labels and ages). Labels ``y`` (n,) fix each chain's class (the energy is
        then E(x, y) and buffer starts come from that class); without them the chains run on
        the marginal energy E(x), and a model with classes stores each result under its
        predicted class (:meth:`predict`)."""
        if self.cfg.init == "noise":
            return self.langevin(self._fresh(n, y), y=y)
        buffer = self.buffer.to(self.device)
        # training draws count towards the buffer's p_new_decay; validation draws do not
        x0, labels, index = buffer.sample(n, y, None if self.training else buffer.current_p_new)
        x = self.langevin(x0, y=y)
        if self.training:
            if y is None and self.num_classes is not None:
                labels = self.predict(x)  # chains on E(x) keep the model's label
            self.buffer.push(x, labels, index)
        return x

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        """The most likely class ``argmax_k p(k | x) = argmin_k E(x, k)`` (B,) of inputs
        (B, *shape); needs a model with classes."""
        out = self.net(x)
        full = torch.empty(len(x), dtype=torch.long, device=x.device)
        energies = [self.energy_of_output(out, full.fill_(k)) for k in range(self.num_classes)]
        return torch.stack(energies, 1).argmin(1)

    def sample(self, n: int, *, y: Tensor | None = None, steps: int | None = None,
               from_buffer: bool | None = None) -> Tensor:
        """``n`` samples (n, *shape): fresh chains of ``sampler.sample_steps`` (or ``steps``)
        from uniform noise, or (``from_buffer``) stored replay-buffer items (no fresh noise;
        an empty buffer or class gives noise) refined by ``sampler.buffer_steps`` (or
        ``steps``) more steps, leaving out items younger than ``sampler.min_age``. The default
        start is ``sampler.sample_init``. Labels ``y`` (n,) fix the class of a conditional
        model's chains (buffer draws come from that class); without them classes are
        uniform."""
        s = self.cfg.sampler
        y = self._check_labels(n, y)
        if y is None and self.num_classes is not None:
            y = torch.randint(self.num_classes, (n,), device=self.device)
        if from_buffer if from_buffer is not None else s.sample_init == "buffer":
            x0 = self.buffer.to(self.device).sample(n, y, p_new=0.0, min_age=s.min_age)[0]
            return self.langevin(x0, s.buffer_steps if steps is None else steps, y)
        return self.langevin(self._fresh(n, y), s.sample_steps if steps is None else steps, y)

    def figures(self, out_dir: Path, train: Dataset | None, test: Dataset) -> dict[str, str]:
        """Images: the replay buffer and a histogram of energies of test images, buffer
        samples and noise (see :func:`genzoo.viz.energy.ebm_figures`)."""
        from genzoo.viz.energy import ebm_figures

        return ebm_figures(self, out_dir, train, test)

    def divergence(self, metrics: dict[str, float]) -> str | None:
        """The energy-gap guard (``model.max_gap``): updates the running mean of the step's
        ``cd`` = E(x) - E(x') and says why it counts as divergence, or None."""
        limit = self.cfg.max_gap
        if limit is None or "cd" not in metrics:
            return None
        previous = getattr(self, "_gap_mean", None)
        gap = metrics["cd"] if previous is None else \
            GAP_MOMENTUM * previous + (1 - GAP_MOMENTUM) * metrics["cd"]
        self._gap_mean = gap
        if abs(gap) > limit:
            return f"energy gap E(x) - E(x') at {gap:.3g} (running mean; model.max_gap {limit:g})"
        return None

    def state_for_checkpoint(self) -> dict:
        return {"buffer": self.buffer.state_dict()}

    def load_extra_state(self, state: dict) -> None:
        self._gap_mean = None  # a rolled-back or resumed run starts the guard's mean afresh
        if "buffer" in state:
            self.buffer.load_state_dict(state["buffer"])
