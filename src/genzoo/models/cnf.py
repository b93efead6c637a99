"""Continuous normalizing flow (FFJORD-style) with the exact trace of the dynamics' Jacobian.

A neural ODE ``dz/dt = f(z, t)`` maps base samples z(0) ~ N(0, I) to data x = z(T). The
instantaneous change of variables (Chen et al. 2018, theorem 1 / eq. 4) gives
``d log p(z(t)) / dt = -tr(df/dz)``, hence::

    log p(x) = log N(z(0); 0, I) - int_0^T tr(df/dz(z(t), t)) dt

``log_prob`` integrates the augmented state ``[z, l]`` with ``dz/dt = f``, ``dl/dt = -tr(df/dz)``
*backwards* from t = T (z = x, l = 0) to t = 0, so ``l(0) = int_0^T tr dt`` and
``log p(x) = log N(z(0)) - l(0)`` (Grathwohl et al. 2019, eq. 4, with data at t = T and the base at
t = 0). ``sample`` integrates base draws forwards from 0 to T. For linear dynamics ``f = A z`` this
is ``x = exp(A T) z(0)`` with ``log det = T tr(A)``.

Trace: exact, as the sum of the D diagonal entries of the Jacobian, one autograd pass per
dimension (D backward passes per function evaluation; cheap for the 2-D toys and fine up to
D ~ 10; FFJORD's Hutchinson estimator is what larger D needs and is not implemented here, so the
method refuses inputs of more than 16 dimensions).

Solver: ``torchdiffeq.odeint`` (or ``odeint_adjoint`` with ``adjoint: true``, O(1) memory) with
``solver`` (default dopri5). Training uses the looser ``train_rtol``/``train_atol`` (1e-3:
few function evaluations, cheap steps); evaluation (``log_prob`` and ``sample`` in eval mode,
validation, reports) uses ``rtol``/``atol`` (1e-5). Fixed-grid solvers (euler, midpoint, rk4) take
``fixed_steps`` steps over [0, T]. Use a smooth activation (tanh, softplus, silu) so f is smooth.

Data: vectors are not rescaled (``data_range`` is unbounded for datasets without a declared
range); images would train in [-1, 1] without dequantization, which this exact-trace CNF does not
target.

References:
    Chen, Rubanova, Bettencourt & Duvenaud, "Neural Ordinary Differential Equations", NeurIPS
    2018, theorem 1 (eq. 4), section 4.
    Grathwohl, Chen, Bettencourt, Sutskever & Duvenaud, "FFJORD: Free-form Continuous Dynamics for
    Scalable Reversible Generative Models", ICLR 2019, eqs. 3-4.

Example:
    >>> import genzoo
    >>> run = genzoo.train("cnf-toy", ["train.steps=5"], quiet=True)   # 5 of 600 steps
    >>> m = genzoo.load(run)
    >>> x = m.sample(100); log_p = m.log_prob(x)             # ODE forwards, then backwards
    >>> x.shape, log_p.shape
    (torch.Size([100, 2]), torch.Size([100]))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torchdiffeq import odeint, odeint_adjoint

from genzoo.config import param
from genzoo.data.base import DatasetInfo
from genzoo.errors import ConfigError
from genzoo.models.base import Batch, LossOutput, Method, NoOptions
from genzoo.nets.base import NetConfig
from genzoo.nets.cond_mlp import CondMLPConfig
from genzoo.registry import methods

MAX_EXACT_TRACE_DIM = 16
FIXED_GRID = ("euler", "midpoint", "rk4")


def exact_trace(f: Tensor, z: Tensor, create_graph: bool) -> Tensor:
    """tr(df/dz) (B,) of f (B, D) computed from z (B, D), by D autograd passes.

    Each item's output depends on its own input only, so the gradient of ``f[:, i].sum()`` w.r.t.
    ``z`` holds ``df_i/dz_i`` of every item in column i.
    """
    trace = torch.zeros(len(z), dtype=z.dtype, device=z.device)
    dim = z.shape[1]
    for i in range(dim):
        (g,) = torch.autograd.grad(f[:, i].sum(), z, create_graph=create_graph,
                                   retain_graph=create_graph or i < dim - 1)
        trace = trace + g[:, i]
    return trace


class Dynamics(nn.Module):
    """The ODE right-hand side: ``f(z, t)`` on z (B, D), and ``[f, -tr(df/dz)]`` on ``(z, l)``.

    Counts function evaluations in ``nfe``. Differentiable through the trace whenever gradients
    are enabled at the call (training, and the adjoint's backward pass); under ``no_grad`` the
    trace is computed with a local graph and the outputs are detached.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.nfe = 0

    def forward(self, t: Tensor, state: Tensor | tuple[Tensor, Tensor]
                ) -> Tensor | tuple[Tensor, Tensor]:
        self.nfe += 1
        if isinstance(state, Tensor):
            return self.net(state, t)
        z = state[0]
        create_graph = torch.is_grad_enabled()
        with torch.enable_grad():
            if not z.requires_grad:
                z = z.detach().requires_grad_(True)
            f = self.net(z, t)
            trace = exact_trace(f, z, create_graph)
        if not create_graph:
            f, trace = f.detach(), trace.detach()
        return f, -trace


@dataclass
class CNFConfig:
    """``model:`` section of a CNF preset."""

    net: NetConfig = param(
        default_factory=lambda: CondMLPConfig(width=64, depth=2, act="tanh", emb_dim=16),
        help="dynamics f(z, t), called net(z, t); use a smooth activation")
    T: float = param(1.0, "integration time: base at t=0, data at t=T", gt=0)
    solver: Literal["dopri5", "bosh3", "adaptive_heun", "euler", "midpoint", "rk4"] = param(
        "dopri5", "torchdiffeq solver")
    rtol: float = param(1e-5, "relative tolerance for evaluation and sampling", gt=0)
    atol: float = param(1e-5, "absolute tolerance for evaluation and sampling", gt=0)
    train_rtol: float = param(1e-3, "relative tolerance in training", gt=0)
    train_atol: float = param(1e-3, "absolute tolerance in training", gt=0)
    fixed_steps: int = param(20, "steps over [0, T] of the fixed-grid solvers", ge=1)
    adjoint: bool = param(False, "backpropagate with the adjoint method (odeint_adjoint)")
    trace: Literal["exact"] = param("exact", "trace estimator: exact (D autograd passes)")


@methods.register("cnf")
class CNF(Method):
    """Continuous normalizing flow; ``loss`` is the NLL -mean log p(x) (exact trace)."""

    Config = CNFConfig
    data_range = (-1.0, 1.0)
    capabilities = frozenset({"sample", "log_prob"})
    SampleOptions = NoOptions
    name = "cnf"

    def __init__(self, cfg: CNFConfig, info: DatasetInfo) -> None:
        super().__init__(cfg, info)
        dim = math.prod(info.shape)
        if dim > MAX_EXACT_TRACE_DIM:
            raise ConfigError(f"method 'cnf' computes the exact trace (one backward pass per "
                              f"dimension); dataset {info.name!r} has {dim} dimensions, more "
                              f"than {MAX_EXACT_TRACE_DIM}")
        self.dim = dim
        self.dynamics = Dynamics(cfg.net.build((dim,), dim))

    # ------------------------------------------------------------------ integration
    def _integrate(self, state: Tensor | tuple[Tensor, Tensor], t0: float, t1: float
                   ) -> Tensor | tuple[Tensor, Tensor]:
        """The state at t1 of the ODE started from ``state`` at t0."""
        ref = state if isinstance(state, Tensor) else state[0]
        times = torch.tensor([t0, t1], dtype=ref.dtype, device=ref.device)
        train = self.training and torch.is_grad_enabled()
        rtol = self.cfg.train_rtol if train else self.cfg.rtol
        atol = self.cfg.train_atol if train else self.cfg.atol
        options = ({"step_size": self.cfg.T / self.cfg.fixed_steps}
                   if self.cfg.solver in FIXED_GRID else None)
        solve = odeint_adjoint if self.cfg.adjoint else odeint
        kwargs: dict[str, Any] = {"rtol": rtol, "atol": atol, "method": self.cfg.solver,
                                  "options": options}
        if self.cfg.adjoint:
            kwargs["adjoint_params"] = tuple(self.dynamics.parameters())
        out = solve(self.dynamics, state, times, **kwargs)
        return out[-1] if isinstance(out, Tensor) else (out[0][-1], out[1][-1])

    def base_log_prob(self, z: Tensor) -> Tensor:
        """log N(z; 0, I) (B,) of z (B, D)."""
        return -0.5 * (z.pow(2).sum(1) + self.dim * math.log(2 * math.pi))

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """z(0) (B, D) and ``int_0^T tr(df/dz) dt`` (B,) for data x (B, *shape) at t = T."""
        z = x.reshape(len(x), self.dim)
        l0 = torch.zeros(len(x), dtype=z.dtype, device=z.device)
        z0, delta = self._integrate((z, l0), self.cfg.T, 0.0)
        return z0, delta

    def decode(self, z: Tensor) -> Tensor:
        """x = z(T) (B, *shape) from base points z (B, D) at t = 0."""
        x = self._integrate(z, 0.0, self.cfg.T)
        return x.reshape(len(z), *self.info.shape)

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log p(x) (B,) of x (B, *shape) (Chen et al. 2018, eq. 4).

        Differentiable w.r.t. the parameters when gradients are enabled; tolerances are the
        training ones in train mode, the evaluation ones otherwise.
        """
        z0, delta = self.encode(x)
        return self.base_log_prob(z0) - delta

    def loss(self, batch: Batch) -> LossOutput:
        """Negative log-likelihood -mean log p(x) (nats per item); logs ``nll`` and ``nfe``."""
        self.dynamics.nfe = 0
        nll = -self.log_prob(batch.x).mean()
        return LossOutput(nll, {"nll": nll.item(), "nfe": float(self.dynamics.nfe)})

    @torch.no_grad()
    def draw(self, n: int, y: Tensor | None, options: NoOptions) -> Tensor:
        """``n`` samples (n, *info.shape): base draws integrated from t = 0 to T (the solver's
        settings live in the config; ``sample()`` takes no options)."""
        z = torch.randn(n, self.dim, device=self.device)
        return self.decode(z).clamp(*self.data_range)
