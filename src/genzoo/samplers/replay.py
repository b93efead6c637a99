"""Replay buffer of Langevin samples (persistent contrastive divergence).

``sample(n)`` returns n starting points: each is, independently with probability ``p_new``, a
fresh draw from ``init`` (e.g. uniform noise), else a stored sample chosen uniformly. After the
Langevin chain, ``push`` stores the results; the oldest items are evicted first (FIFO) once the
buffer holds ``capacity``. Labels are kept beside the samples, so conditional models can draw
per class. The buffer lives on the training device and, optionally, as uint8 (a quarter of the
memory of float32) for image data in a known range.

References:
    Tieleman, "Training Restricted Boltzmann Machines using Approximations to the Likelihood
    Gradient", ICML 2008 (persistent chains).
    Du & Mordatch, "Implicit Generation and Modeling with Energy-Based Models", NeurIPS 2019
    (replay buffer with 5% fresh noise).

Example:
    >>> buf = ReplayBuffer(1000, (2,), init=uniform_init(-4.0, 4.0), p_new=0.05)
    >>> x0, y0, index = buf.sample(64)     # all fresh while the buffer is empty
    >>> x0.shape, bool((index == -1).all())
    (torch.Size([64, 2]), True)
    >>> buf.push(x0, y0)                   # (after running the chains from x0)
    >>> len(buf)
    64
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

#: ``init(n, device, item_shape, labels) -> (n, *item_shape)`` fresh items; ``labels`` (n,)
#: are the classes the items are drawn for (None for unlabelled buffers), which an init may use
#: (e.g. :class:`~genzoo.samplers.class_gaussian.ClassGaussian`) or ignore.
Init = Callable[[int, torch.device, tuple[int, ...], Tensor | None], Tensor]


def uniform_init(low: float, high: float) -> Init:
    """Fresh items uniform in ``[low, high]`` (e.g. the data range of images); ignores labels."""

    def init(n: int, device: torch.device, shape: tuple[int, ...],
             labels: Tensor | None = None) -> Tensor:
        return torch.rand(n, *shape, device=device) * (high - low) + low

    return init


class ReplayBuffer:
    """FIFO buffer of samples (and labels) with per-item fresh draws.

    Args:
        capacity: largest number of stored items.
        shape: shape of one item, e.g. (3, 32, 32) or (2,).
        init: ``init(n, device, shape, labels) -> (n, *shape)`` fresh items (see
            :func:`uniform_init`).
        p_new: probability that a drawn item is fresh (a per-item Bernoulli, so the number of
            fresh items is Binomial(n, p_new)).
        num_classes: labels of fresh items are uniform over these classes; None: unlabelled.
        device: where the buffer lives.
        uint8_range: store as uint8 by quantizing this (low, high) range to 0..255 (the round
            trip error is at most half a level, (high - low) / 510).
        p_new_decay: if > 0, the fresh-item probability of training draws (:meth:`sample`
            without an explicit ``p_new``) falls linearly from ``p_new`` to 0 over this many
            draws; the chains are then only persistent. This keeps fresh starts that can no
            longer reach the data (e.g. uniform noise once a classifier is sharp, see the JEM
            presets) from filling the buffer. The draw count travels with the buffer's state.
    """

    def __init__(self, capacity: int, shape: tuple[int, ...], init: Init, p_new: float = 0.05,
                 num_classes: int | None = None, device: torch.device | str = "cpu",
                 uint8_range: tuple[float, float] | None = None, p_new_decay: int = 0) -> None:
        if capacity < 1 or not 0 <= p_new <= 1 or p_new_decay < 0:
            raise ValueError(f"need capacity >= 1, p_new in [0, 1] and p_new_decay >= 0, got "
                             f"{capacity}, {p_new}, {p_new_decay}")
        self.capacity, self.shape, self.init, self.p_new = capacity, tuple(shape), init, p_new
        self.p_new_decay = p_new_decay
        self.draws = 0  # training draws so far (sample() without an explicit p_new)
        self.num_classes, self.uint8_range = num_classes, uint8_range
        self.device = torch.device(device)
        dtype = torch.uint8 if uint8_range else torch.float32
        self.x = torch.zeros(capacity, *self.shape, dtype=dtype, device=self.device)
        self.y = torch.zeros(capacity, dtype=torch.long, device=self.device)
        self.age = torch.zeros(capacity, dtype=torch.long, device=self.device)
        self.size = 0  # items stored
        self.head = 0  # next slot to overwrite (the oldest item once full)

    def __len__(self) -> int:
        return self.size

    # ------------------------------------------------------------------ storage format
    def _encode(self, x: Tensor) -> Tensor:
        if self.uint8_range is None:
            return x.detach().float()
        low, high = self.uint8_range
        return ((x.detach().float() - low) / (high - low) * 255).round().clamp(0, 255).to(
            torch.uint8)

    def _decode(self, x: Tensor) -> Tensor:
        if self.uint8_range is None:
            return x.clone()
        low, high = self.uint8_range
        return x.float() / 255 * (high - low) + low

    @property
    def current_p_new(self) -> float:
        """The fresh-item probability of the next training draw: ``p_new``, or under
        ``p_new_decay`` = D, ``p_new * max(0, 1 - draws / D)``."""
        if self.p_new_decay <= 0:
            return self.p_new
        return self.p_new * max(0.0, 1.0 - self.draws / self.p_new_decay)

    def _fresh_labels(self, n: int) -> Tensor:
        if self.num_classes is None:
            return torch.zeros(n, dtype=torch.long, device=self.device)
        return torch.randint(self.num_classes, (n,), device=self.device)

    # ------------------------------------------------------------------ use
    def sample(self, n: int, y: Tensor | None = None, p_new: float | None = None,
               min_age: int = 0) -> tuple[Tensor, Tensor, Tensor]:
        """``n`` starting points, their labels, and their buffer slots (-1 for fresh items).

        Args:
            n: number of items.
            y: optional labels (n,): stored items are then drawn among those of the same class
                (classes with no stored item get fresh draws).
            p_new: probability of a fresh item instead of the buffer's (e.g. 0 to draw the
                model's samples after training: only stored items unless none fits). None: a
                training draw, at :attr:`current_p_new`, counted in ``draws``.
            min_age: draw only stored items whose chain has been run at least this many
                times (see :meth:`push`); none old enough gives fresh draws.

        Returns:
            x (n, *shape) float on the buffer's device, labels (n,), slot index (n,).
        """
        if p_new is None:
            p_new = self.current_p_new
            self.draws += 1
        fresh = torch.rand(n, device=self.device) < p_new
        if self.size == 0:
            fresh[:] = True
        index = torch.full((n,), -1, dtype=torch.long, device=self.device)
        labels = self._fresh_labels(n) if y is None else y.to(self.device).long()
        old_enough = self.age[:self.size] >= min_age
        if y is None and self.size and min_age <= 0:
            index = torch.randint(self.size, (n,), device=self.device)
        elif y is None and old_enough.any():
            where = torch.nonzero(old_enough).flatten()
            index = where[torch.randint(len(where), (n,), device=self.device)]
        elif y is None:
            fresh[:] = True
        elif self.size:
            stored = self.y[:self.size]
            for k in labels.unique().tolist():
                where = torch.nonzero((stored == k) & old_enough).flatten()
                rows = torch.nonzero(labels == k).flatten()
                if len(where) == 0:
                    fresh[rows] = True
                else:
                    index[rows] = where[torch.randint(len(where), (len(rows),),
                                                      device=self.device)]
        index[fresh] = -1
        x = torch.empty(n, *self.shape, device=self.device)
        kept = ~fresh
        if kept.any():
            x[kept] = self._decode(self.x[index[kept]])
            if y is None:
                labels[kept] = self.y[index[kept]]
        if fresh.any():
            x[fresh] = self.init(int(fresh.sum()), self.device, self.shape,
                                 labels[fresh] if self.num_classes else None)
        return x, labels, index

    def label_entropy(self) -> float | None:
        """Entropy of the stored items' labels over ``ln num_classes``: 1 when every class holds
        the same share, 0 when one class holds everything (e.g. chains stuck in a mode the
        classifier gives one label). None for unlabelled or empty buffers."""
        if not self.num_classes or self.num_classes < 2 or self.size == 0:
            return None
        p = torch.bincount(self.y[:self.size], minlength=self.num_classes).double() / self.size
        h = -(p[p > 0] * p[p > 0].log()).sum()
        return float(h / math.log(self.num_classes))

    def items(self, index: Tensor) -> tuple[Tensor, Tensor]:
        """Stored items (as floats) and labels at slots ``index`` (all below ``len(self)``)."""
        index = index.to(self.device)
        return self._decode(self.x[index]), self.y[index]

    def push(self, x: Tensor, y: Tensor | None = None, index: Tensor | None = None) -> None:
        """Store samples (n, *shape) (and labels), evicting the oldest items when full.

        ``index`` is the slots :meth:`sample` returned for the chains' starting points: each
        stored item's *age* (how many chains produced it) is then its start's age + 1, and 1
        for chains from fresh draws (index -1) or when ``index`` is not given.
        """
        n_all = len(x)
        x = self._encode(x.to(self.device))[-self.capacity:]
        n = len(x)
        labels = (torch.zeros(n, dtype=torch.long, device=self.device) if y is None
                  else y.to(self.device).long()[-n:])
        age = torch.ones(n_all, dtype=torch.long, device=self.device)
        if index is not None:
            index = index.to(self.device)
            stored = index >= 0
            age[stored] = self.age[index[stored]] + 1
        slots = (self.head + torch.arange(n, device=self.device)) % self.capacity
        self.x[slots] = x
        self.y[slots] = labels
        self.age[slots] = age[-n:]
        self.head = (self.head + n) % self.capacity
        self.size = min(self.capacity, self.size + n)

    def to(self, device: torch.device | str) -> ReplayBuffer:
        """Keep the buffer on ``device`` (moved in place when it is elsewhere); returns self."""
        device = torch.device(device)
        if device != self.device:
            self.device, self.x, self.y = device, self.x.to(device), self.y.to(device)
            self.age = self.age.to(device)
        return self

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        return {"x": self.x[:self.capacity].cpu(), "y": self.y.cpu(), "age": self.age.cpu(),
                "size": self.size, "head": self.head, "draws": self.draws}

    def load_state_dict(self, state: dict) -> None:
        if tuple(state["x"].shape) != tuple(self.x.shape) or state["x"].dtype != self.x.dtype:
            raise ValueError(f"buffer of shape {tuple(state['x'].shape)} {state['x'].dtype} "
                             f"does not fit {tuple(self.x.shape)} {self.x.dtype}")
        self.x.copy_(state["x"])
        self.y.copy_(state["y"])
        if "age" in state:  # checkpoints before ages were kept count every item as age 1
            self.age.copy_(state["age"])
        else:
            self.age.fill_(1)
        self.size, self.head = int(state["size"]), int(state["head"])
        self.draws = int(state.get("draws", 0))
