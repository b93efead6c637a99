"""The Langevin chain of the energy-based families (EBM, conditional EBM, JEM, JEM++) and of
every analysis that runs chains on their energies: one object, used by composition.

A :class:`LangevinChain` holds what a chain needs and nothing else: the network and the
energy read off its output (``energy_of_output(net(x), y)``), the sampler's math
(:class:`SGLDConfig`), how it runs (:class:`ChainRuntime`: memory format, precision,
compilation, heap), where fresh chains start (``init``), the clamping box, and optionally a
:class:`~genzoo.samplers.replay.ReplayBuffer`. The chains are
:func:`~genzoo.samplers.langevin.sgld` in the JEM/IGEBM form
``x <- clamp(x - a * clip(dE/dx) + s_t * eta)``, or JEM++'s
:func:`~genzoo.samplers.langevin.proximal_sgld` when ``inner_steps`` > 0, with the network in
eval mode and only x receiving gradients.

Example:
    >>> from genzoo.nets.mlp import MLPConfig
    >>> net = MLPConfig(width=16, depth=2).build((2,), 1)
    >>> chain = LangevinChain(net, lambda out, y: out.squeeze(-1), SGLDConfig(steps=5),
    ...                       shape=(2,), box=(-4.0, 4.0), init=uniform_init(-4.0, 4.0))
    >>> chain.run(chain.fresh(8)).shape
    torch.Size([8, 2])
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from genzoo import runtime
from genzoo.config import param
from genzoo.errors import ConfigError
from genzoo.nets.base import StemSplit
from genzoo.samplers.langevin import (
    Recorder,
    Schedule,
    energy_score,
    frozen,
    proximal_sgld,
    sgld_trajectory,
    step_sizes,
)
from genzoo.samplers.replay import Init, ReplayBuffer, uniform_init

#: ``energy_of_output(out, y) -> (B,)``: the energy given the network's output (labels or None)
EnergyOfOutput = Callable[[Tensor, Tensor | None], Tensor]


@dataclass
class SGLDConfig:
    """SGLD in the JEM/IGEBM form ``x <- clamp(x - a * clip(dE/dx) + s * eta)``, or (``form:
    paper``) Langevin in the paper form ``x <- clamp(x - (eps_t^2 / 2) dE/dx + eps_t * eta)``
    with ``eps_t = eps * (eps_end / eps) ** (t / T)``, t = 0..T-1, the decay applied to the step
    and the noise together: the math only (how the chains run is :class:`ChainRuntime`)."""

    steps: int = param(60, "Langevin steps per training step", ge=0)
    form: Literal["jem", "paper"] = param(
        "jem", "jem: step a and noise s set apart (step_size, noise_scale, noise_schedule); "
        "paper: step eps_t^2 / 2 and noise eps_t from eps, eps_end")
    eps: float = param(0.1, "paper form: eps_0", gt=0)
    eps_end: float | None = param(None, "paper form: eps_t decays geometrically from eps "
                                  "towards this (reached at t = T); None: constant eps", gt=0)
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

    def validate(self) -> None:
        if self.form == "paper" and self.inner_steps:
            raise ConfigError("model.sampler.form=paper: proximal SGLD (inner_steps > 0) takes "
                              "the jem form's step_size and noise_scale")

    def eps_t(self, steps: int) -> list[float]:
        """The paper form's ``eps_t = eps * (eps_end / eps) ** (t / T)``, t = 0..T-1."""
        end = self.eps if self.eps_end is None else self.eps_end
        return [self.eps * (end / self.eps) ** (t / steps) for t in range(steps)]

    def noise(self, steps: int) -> list[float]:
        """``s_t`` for a chain of ``steps`` steps (the paper form: ``eps_t``)."""
        if self.form == "paper":
            return self.eps_t(steps)
        return step_sizes(self.noise_schedule, self.noise_scale, self.noise_end, steps)

    def sizes(self, steps: int) -> list[float]:
        """``a_t``, the multiplier of -dE/dx at each step (the paper form: ``eps_t^2 / 2``)."""
        if self.form == "paper":
            return [e * e / 2 for e in self.eps_t(steps)]
        return [self.step_size] * steps


@dataclass
class ChainRuntime:
    """``model.runtime``: how the chains run (speed switches), apart from what they compute."""

    channels_last: bool = param(True, "keep an image network's weights and the chains in "
                                "channels-last memory format (faster convolutions on CPU; the "
                                "same numbers to float tolerance)")
    precision: Literal["float32", "bf16", "auto"] = param(
        "float32", "the chains' forward and backward passes: float32, bfloat16 autocast "
        "(about 2-3x faster where the device has native bf16, 20x slower on CPUs without it; "
        "gradients then differ from float32 by bf16 rounding), or auto: bf16 where native, "
        "float32 elsewhere; apart from train.amp, whose autocast float32 chains switch off")
    compile: bool = param(False, "run the chains through torch.compile(net) (CPU inductor or "
                          "CUDA; the first chain pays the compilation)")
    keep_heap: bool = param(True, "CPU chains keep the memory they free mapped (glibc: no "
                            "trimming or mmap during a chain, see genzoo.runtime), which "
                            "spares a page fault per 4 KiB of activations and step")


GAP_MOMENTUM = 0.98  # the energy-gap guard's running mean spans about 50 steps


class EnergyGapGuard:
    """The energy-gap guard (``model.max_gap``): a running mean of the step's ``cd`` =
    E(x) - E(x'), and why it counts as divergence for the training loop's guard."""

    def __init__(self, limit: float | None) -> None:
        self.limit = limit
        self.mean: float | None = None

    def __call__(self, metrics: dict[str, float]) -> str | None:
        if self.limit is None or "cd" not in metrics:
            return None
        gap = metrics["cd"] if self.mean is None else \
            GAP_MOMENTUM * self.mean + (1 - GAP_MOMENTUM) * metrics["cd"]
        self.mean = gap
        if abs(gap) > self.limit:
            return (f"energy gap E(x) - E(x') at {gap:.3g} (running mean; model.max_gap "
                    f"{self.limit:g})")
        return None

    def reset(self) -> None:
        """A rolled-back or resumed run starts the running mean afresh."""
        self.mean = None


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

    def build_buffer(self, shape: tuple[int, ...], init: Init, num_classes: int | None,
                     box: tuple[float, float]) -> ReplayBuffer:
        """The replay buffer of these keys: items of ``shape``, fresh ones from ``init``,
        labels over ``num_classes`` (None: unlabelled), uint8 storage over ``box``."""
        return ReplayBuffer(self.buffer_size, shape, init, self.p_new, num_classes=num_classes,
                            uint8_range=box if self.buffer_uint8 else None,
                            p_new_decay=self.p_new_decay)

    def gap_guard(self) -> EnergyGapGuard:
        """The energy-gap guard of ``max_gap`` (off when None)."""
        return EnergyGapGuard(self.max_gap)


@dataclass
class SampleOptions:
    """Options of ``sample()`` of the Langevin families (``genzoo sample RUN sampler.KEY=V``):
    each overrides the run's ``model.sampler`` key of the same name for one call."""

    sample_init: Literal["noise", "buffer"] | None = param(
        None, "noise: fresh chains from uniform noise; buffer: replay-buffer items")
    sample_steps: int | None = param(None, "steps of chains from noise", ge=0)
    buffer_steps: int | None = param(None, "steps of chains from buffer items", ge=0)


class LangevinChain:
    """SGLD chains (or JEM++'s proximal SGLD) on ``E(x, y) = energy_of_output(net(x), y)``.

    Args:
        net: the energy network; proximal SGLD needs its first-layer split (``net.stem`` and
            ``net.from_stem``).
        energy_of_output: ``(net(x), y) -> (B,)``; y None gives the marginal E(x).
        cfg: the sampler's math.
        runtime: how the chains run (default :class:`ChainRuntime`'s defaults).
        shape: one item's shape, e.g. (3, 32, 32).
        box: the range fresh uniform starts and uint8 buffers cover.
        clamp: keep chains in this range after every step (images: their data range; None:
            unbounded vectors).
        init: fresh chain starts ``init(n, device, shape, labels)``; default uniform over box.
        buffer: a replay buffer of persistent chains (None: chains always start fresh).
        num_classes: classes of the energy (None: unconditional).
        start: where training negatives start, ``noise`` or ``buffer``.
    """

    def __init__(self, net: nn.Module, energy_of_output: EnergyOfOutput, cfg: SGLDConfig,
                 runtime: ChainRuntime | None = None, *, shape: tuple[int, ...],
                 box: tuple[float, float], clamp: tuple[float, float] | None = None,
                 init: Init | None = None, buffer: ReplayBuffer | None = None,
                 num_classes: int | None = None,
                 start: Literal["noise", "buffer"] = "buffer") -> None:
        self.net, self.energy_of_output, self.cfg = net, energy_of_output, cfg
        self.runtime = runtime or ChainRuntime()
        self.shape, self.box, self.clamp = shape, box, clamp
        self.init = init or (buffer.init if buffer is not None else uniform_init(*box))
        self.buffer, self.num_classes, self.start = buffer, num_classes, start
        if cfg.inner_steps and not isinstance(net, StemSplit):
            raise ConfigError("sampler.inner_steps (proximal SGLD) needs a backbone with a "
                              f"first-layer split (cnn, wrn), not {type(net).__name__}")
        if self.channels_last:
            net.to(memory_format=torch.channels_last)

    @property
    def channels_last(self) -> bool:
        return self.runtime.channels_last and len(self.shape) == 3

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @functools.cached_property
    def _compiled_net(self) -> nn.Module:
        """``torch.compile(net)``, made once."""
        return torch.compile(self.net)

    # ------------------------------------------------------------------ the chains
    def run(self, x: Tensor, steps: int | None = None, y: Tensor | None = None, *,
            sign: float = 1.0, record: Recorder | None = None, every: int = 1) -> Tensor:
        """Run the configured chain from ``x`` (B, *shape), labels ``y`` held fixed, with the
        network in eval mode (no batch-norm statistics updated) and its weights frozen (only
        ``x`` gets gradients), in the runtime's memory format and precision.

        Args:
            x: starting points (B, *shape); not modified.
            steps: number of steps (default ``cfg.steps``, the training chains').
            y: labels (B,) of E(x, y), or None for E(x).
            sign: -1 climbs the energy (negative step sizes; analyses).
            record, every: ``record(t, x)`` at t = 0 and every ``every`` steps.

        Returns:
            The chains' ends (B, *shape), contiguous.
        """
        steps = self.cfg.steps if steps is None else steps
        was_training = self.net.training
        self.net.eval()
        try:
            return self._chains(x, steps, y, sign, record, every)
        finally:
            self.net.train(was_training)

    def _chains(self, x: Tensor, steps: int, y: Tensor | None, sign: float,
                record: Recorder | None, every: int) -> Tensor:
        s, how = self.cfg, self.runtime
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        device_type = x.device.type
        # the whole chain, backward passes included, in the chain's own precision: an
        # enclosing autocast (train.amp) would otherwise also reach the backward's matmuls
        request = {"float32": False, "bf16": True, "auto": "auto"}[how.precision]
        chosen = runtime.resolve_precision(request, "bf16", x.device, "model.runtime.precision")
        precision = torch.autocast(device_type, torch.bfloat16, enabled=chosen.autocast)
        keep = how.keep_heap and device_type == "cpu"
        with frozen(self.net), runtime.kept_heap() if keep else contextlib.nullcontext(), precision:
            if s.inner_steps:
                net = self.net

                def head(z: Tensor) -> Tensor:
                    return self.energy_of_output(net.from_stem(z), y).float()

                x = proximal_sgld(net.stem, head, x, steps, sign * s.step_size, s.noise(steps),
                                  inner_steps=s.inner_steps, inner_step=sign * s.inner_step,
                                  inner_clip=s.inner_clip, clip_grad=s.clip_grad,
                                  clamp=self.clamp, record=record, every=every)
            else:
                net = self._compiled_net if how.compile else self.net

                def energy(v: Tensor) -> Tensor:
                    return self.energy_of_output(net(v), y).float()

                x = sgld_trajectory(energy_score(energy), x, steps,
                                    [sign * a for a in s.sizes(steps)], s.noise(steps), record,
                                    every=every,
                                    clip_grad=s.clip_grad, clamp=self.clamp)
        return x.contiguous()

    def fresh(self, n: int, y: Tensor | None = None) -> Tensor:
        """``n`` fresh chain starts from ``init`` (uniform noise, or JEM++'s class Gaussians
        for labels ``y``; uniform classes when None and the chain has classes)."""
        if y is None and self.num_classes:
            y = torch.randint(self.num_classes, (n,), device=self.device)
        return self.init(n, self.device, self.shape, y)

    def negatives(self, n: int, y: Tensor | None = None, *, training: bool = True,
                  labelled: bool = False) -> Tensor:
        """Negatives for one training step: chains from fresh starts, or (``start: buffer``)
        from the buffer and, in training, pushed back with their labels and ages.

        Labels ``y`` (n,) fix each chain's class (the energy is then E(x, y) and buffer starts
        come from that class). Without them the chains run on the marginal energy E(x) and a
        chain with classes stores each result under its predicted class (:meth:`predict`);
        or, with ``labelled`` (the JEM project's step), each chain runs on E(x', y') with the
        label y' drawn with its start (the stored item's, uniform for a fresh start) and is
        stored back under y'."""
        if labelled and y is None and self.num_classes is None:
            raise ConfigError("labelled chains need an energy with classes")
        if self.start == "noise" or self.buffer is None:
            if labelled and y is None:
                y = torch.randint(self.num_classes, (n,), device=self.device)
            return self.run(self.fresh(n, y), y=y)
        buffer = self.buffer.to(self.device)  # moved in place: the same buffer
        # training draws count towards the buffer's p_new_decay; validation draws do not
        x0, labels, index = buffer.sample(n, y, None if training else buffer.current_p_new)
        x = self.run(x0, y=labels if labelled else y)
        if training:
            if y is None and not labelled and self.num_classes is not None:
                labels = self.predict(x)  # chains on E(x) keep the model's label
            buffer.push(x, labels, index)
        return x

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        """The most likely class ``argmin_k E(x, k)`` (B,) of inputs (B, *shape)."""
        if self.num_classes is None:
            raise ConfigError("predict needs an energy with classes")
        out = self.net(x)
        full = torch.empty(len(x), dtype=torch.long, device=x.device)
        energies = [self.energy_of_output(out, full.fill_(k)) for k in range(self.num_classes)]
        return torch.stack(energies, 1).argmin(1)

    def sample(self, n: int, y: Tensor | None, options: SampleOptions) -> Tensor:
        """``n`` samples (n, *shape): fresh chains of ``sample_steps`` from ``init``, or
        (``sample_init: buffer``) stored buffer items (no fresh noise; an empty buffer or class
        gives noise) refined by ``buffer_steps``, leaving out items younger than ``min_age``.
        ``options`` override the config's keys of the same name; labels ``y`` (n,) (or None)
        fix the class of each chain (buffer draws come from that class)."""
        s = self.cfg
        start = options.sample_init or s.sample_init
        if start == "buffer" and self.buffer is not None:
            steps = s.buffer_steps if options.buffer_steps is None else options.buffer_steps
            x0 = self.buffer.to(self.device).sample(n, y, p_new=0.0, min_age=s.min_age)[0]
            return self.run(x0, steps, y)
        steps = s.sample_steps if options.sample_steps is None else options.sample_steps
        return self.run(self.fresh(n, y), steps, y)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        return {} if self.buffer is None else {"buffer": self.buffer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if "buffer" in state and self.buffer is not None:
            self.buffer.load_state_dict(state["buffer"])
