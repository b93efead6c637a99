"""Small shared pieces of the families' objectives (see DESIGN.md, "Layout").

Every function reduces over all non-batch dimensions and returns one number per example, shape
(B,), unless it says otherwise. Arguments broadcast against each other as in PyTorch.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


# ----------------------------------------------------------------------------- VAE and GAN
# (log-likelihoods, log_mean_exp, Gaussian KL analytic and Monte Carlo, Wasserstein critic
# estimate and its gradient and Lipschitz penalties.)
def _sum_except_batch(t: Tensor) -> Tensor:
    return t.flatten(1).sum(1) if t.dim() > 1 else t


def log_likelihood_normal(mu: Tensor, logvar: Tensor, x: Tensor) -> Tensor:
    """Diagonal-Gaussian log-density ``log N(x; mu, exp(logvar))`` summed over non-batch dims.

    Args:
        mu: mean (B, ...), broadcastable to ``x``.
        logvar: log-variance (B, ...) or any shape broadcastable to ``x`` (e.g. (D,) for a
            variance shared by the batch, () for one global variance).
        x: points (B, ...).

    Returns:
        (B,): ``sum_i -0.5 * (log(2 pi) + logvar_i + (x_i - mu_i)^2 / exp(logvar_i))``.

    References:
        Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014, appendix C.2 (the
        Gaussian decoder ``log p(x|z)``).

    Example:
        >>> log_likelihood_normal(torch.zeros(3, 2), torch.zeros(2), torch.zeros(3, 2)).shape
        torch.Size([3])
    """
    mu, logvar, x = torch.broadcast_tensors(mu, logvar, x)
    log_density = -0.5 * (math.log(2 * math.pi) + logvar + (x - mu).square() * torch.exp(-logvar))
    return _sum_except_batch(log_density)


def log_likelihood_bernoulli(mu: Tensor, x: Tensor) -> Tensor:
    """Bernoulli log-likelihood ``log p(x)`` of ``x`` in [0, 1] given means ``mu``, per example.

    ``mu`` is clamped to ``[eps, 1 - eps]`` (``eps`` the machine epsilon of its dtype, as
    ``torch.distributions.Bernoulli`` does), so a saturated mean gives a large finite penalty
    instead of ``-inf``/NaN. For a decoder's output prefer
    :func:`log_likelihood_bernoulli_logits`: it is exact for any logit, where the probability
    ``sigmoid(logits)`` rounds to 0 or 1 in float32 beyond ``|logits| ~ 17``.

    Args:
        mu: means (probabilities of a 1) in [0, 1], (B, ...), broadcastable to ``x``.
        x: targets in [0, 1] (B, ...). Non-binary ``x`` gives the continuous-target
            cross-entropy (not a normalised density).

    Returns:
        (B,): ``sum_i x_i log mu_i + (1 - x_i) log(1 - mu_i)``.

    References:
        Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014, appendix C.1 (the
        Bernoulli decoder).

    Example:
        >>> log_likelihood_bernoulli(torch.full((2, 3), 0.5), torch.ones(2, 3))
        tensor([-2.0794, -2.0794])
    """
    mu, x = torch.broadcast_tensors(mu, x)
    eps = torch.finfo(mu.dtype).eps
    mu = mu.clamp(eps, 1 - eps)
    return _sum_except_batch(x * torch.log(mu) + (1 - x) * torch.log1p(-mu))


def log_likelihood_bernoulli_logits(logits: Tensor, x: Tensor) -> Tensor:
    """:func:`log_likelihood_bernoulli` with the means given as logits ``log(mu / (1 - mu))``.

    Computed as ``x * logits - softplus(logits)`` (= ``-BCEWithLogits``), exact and finite for
    any logit: the form to train a Bernoulli decoder with.

    Args:
        logits: (B, ...), broadcastable to ``x``.
        x: targets in [0, 1] (B, ...).

    Returns:
        (B,): ``sum_i x_i log mu_i + (1 - x_i) log(1 - mu_i)``, ``mu = sigmoid(logits)``.

    References:
        Kingma & Welling 2014, appendix C.1.

    Example:
        >>> log_likelihood_bernoulli_logits(torch.tensor([[200.0]]), torch.zeros(1, 1))
        tensor([-200.])
    """
    logits, x = torch.broadcast_tensors(logits, x)
    return _sum_except_batch(-F.binary_cross_entropy_with_logits(logits, x, reduction="none"))


def log_mean_exp(y: Tensor, dim: int = -1) -> Tensor:
    """``log((1/K) sum_k exp(y_k))`` along ``dim`` (of size K), without overflow or underflow.

    Args:
        y: any shape, e.g. log importance weights (B, K), one row per example.
        dim: the dimension to average over (default the last: one result per row); it is
            removed.

    Returns:
        ``y`` reduced over ``dim``: ``logsumexp(y, dim) - log K``.

    References:
        Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016, eq. (8)
        (the K-sample bound is a log-mean-exp of log weights).

    Example:
        >>> log_mean_exp(torch.tensor([[1000.0, 1000.0]]))
        tensor([1000.])
    """
    return torch.logsumexp(y, dim) - math.log(y.shape[dim])


def kl_gaussian_gaussian_analytic(mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor,
                                  logvar_p: Tensor) -> Tensor:
    """Closed-form ``KL(N(mu_q, diag var_q) || N(mu_p, diag var_p))`` summed per example.

    Args:
        mu_q, logvar_q: mean and log-variance of q (B, ...).
        mu_p, logvar_p: mean and log-variance of p, broadcastable to q's (zeros: N(0, I)).

    Returns:
        (B,): ``0.5 sum_i [logvar_p - logvar_q + (var_q + (mu_q - mu_p)^2) / var_p - 1]``.

    References:
        Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014, appendix B (the case
        ``p = N(0, I)``, used in eq. (10)).
    """
    mu_q, logvar_q, mu_p, logvar_p = torch.broadcast_tensors(mu_q, logvar_q, mu_p, logvar_p)
    kl = 0.5 * (logvar_p - logvar_q
                + (torch.exp(logvar_q) + (mu_q - mu_p).square()) * torch.exp(-logvar_p) - 1)
    return _sum_except_batch(kl)


def kl_gaussian_gaussian_mc(mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor, logvar_p: Tensor,
                            num_samples: int) -> Tensor:
    """Monte Carlo ``KL(q || p) ~ (1/S) sum_s [log q(z_s) - log p(z_s)]``, ``z_s ~ q``.

    Unbiased; reparameterised (``z = mu_q + exp(logvar_q / 2) * eps``), so it is differentiable
    in q's parameters. Its standard error falls as ``1 / sqrt(num_samples)``.

    Args:
        mu_q, logvar_q: mean and log-variance of q (B, ...).
        mu_p, logvar_p: mean and log-variance of p, broadcastable to q's.
        num_samples: S, the number of draws per example.

    Returns:
        (B,): the estimate per example.

    References:
        Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014, eq. (6) (the generic
        SGVB estimator, where the KL term is estimated by sampling).
    """
    mu_q, logvar_q, mu_p, logvar_p = torch.broadcast_tensors(mu_q, logvar_q, mu_p, logvar_p)
    eps = torch.randn((num_samples, *mu_q.shape), dtype=mu_q.dtype, device=mu_q.device)
    z = (mu_q + torch.exp(0.5 * logvar_q) * eps).flatten(0, 1)  # (S * B, ...)
    mu_q, logvar_q, mu_p, logvar_p = (t.expand(num_samples, *t.shape).flatten(0, 1)
                                      for t in (mu_q, logvar_q, mu_p, logvar_p))
    log_ratio = log_likelihood_normal(mu_q, logvar_q, z) - log_likelihood_normal(mu_p, logvar_p, z)
    return log_ratio.view(num_samples, -1).mean(0)


def interpolate_grad_norm(critic: Callable[[Tensor], Tensor], x_real: Tensor, x_fake: Tensor,
                          create_graph: bool = True) -> Tensor:
    """``||grad_x D(x_hat)||_2`` (B,) at random interpolates of data and generated points.

    ``x_hat = u x_real + (1 - u) x_fake`` with one ``u ~ U[0, 1]`` per example, the sampling
    of WGAN-GP (Gulrajani et al. 2017, Algorithm 1, lines 6-7) and of WGAN-LP's interpolation
    variant (Petzka et al. 2018). With ``create_graph`` the norms back-propagate into the
    critic's parameters (for a penalty); without, they are a cheap diagnostic.

    Args:
        critic: D, mapping (B, ...) to (B,) (or (B, 1)) scores.
        x_real: data (B, ...).
        x_fake: generated points (B, ...), treated as constants.
        create_graph: keep the graph of the gradient.

    Returns:
        (B,) gradient norms.
    """
    u = torch.rand((len(x_real),) + (1,) * (x_real.dim() - 1), dtype=x_real.dtype,
                   device=x_real.device)
    x_hat = (u * x_real.detach() + (1 - u) * x_fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=create_graph)
    return grad.flatten(1).norm(dim=1)


def gradient_penalty(critic: Callable[[Tensor], Tensor], x_real: Tensor, x_fake: Tensor,
                     target: float = 1.0) -> Tensor:
    """WGAN-GP penalty ``E[(||grad_x D(x_hat)||_2 - target)^2]`` on random interpolates
    (:func:`interpolate_grad_norm`), two-sided: gradients shorter than ``target`` cost too.

    Args:
        critic: D, mapping (B, ...) to (B,) (or (B, 1)) scores.
        x_real: data (B, ...).
        x_fake: generated points (B, ...), treated as constants.
        target: the norm the gradient is pulled towards (1: the 1-Lipschitz constraint).

    Returns:
        scalar: the penalty averaged over the batch (multiply by lambda = 10 in the paper).

    References:
        Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017, eq. (3) and
        Algorithm 1 (lines 6-7).
    """
    return norm_penalty(interpolate_grad_norm(critic, x_real, x_fake), target)


def lp_reg(critic: Callable[[Tensor], Tensor], x_real: Tensor, x_fake: Tensor) -> Tensor:
    """WGAN-LP penalty ``E[max(0, ||grad_x D(x_hat)||_2 - 1)^2]`` on random interpolates
    (:func:`interpolate_grad_norm`): one-sided, only gradients longer than 1 cost, so any
    1-Lipschitz critic pays nothing.

    Args:
        critic: D, mapping (B, ...) to (B,) (or (B, 1)) scores.
        x_real: data (B, ...).
        x_fake: generated points (B, ...), treated as constants.

    Returns:
        scalar: the penalty averaged over the batch (multiply by lambda).

    References:
        Petzka, Fischer & Lukovnikov, "On the regularization of Wasserstein GANs", ICLR 2018
        (the one-sided "LP" penalty, beside the two-sided GP it relaxes).
    """
    return norm_penalty(interpolate_grad_norm(critic, x_real, x_fake), one_sided=True)


def norm_penalty(norms: Tensor, target: float = 1.0, one_sided: bool = False) -> Tensor:
    """``mean (norms - target)^2`` (GP), or ``mean max(0, norms - target)^2`` (LP,
    ``one_sided``), from gradient norms (B,) such as :func:`interpolate_grad_norm`'s."""
    excess = norms - target
    return (F.relu(excess) if one_sided else excess).square().mean()


def vf_wasserstein_distance(critic_real: Tensor, critic_fake: Tensor) -> Tensor:
    """The critic's estimate of the Wasserstein-1 distance, ``mean D(x) - mean D(G(z))``: the
    Kantorovich-Rubinstein dual's value function at the current critic (a lower bound on W1
    when D is 1-Lipschitz).

    Args:
        critic_real: scores D(x) (B,) on data.
        critic_fake: scores D(G(z)) (B',) on generated points.

    Returns:
        scalar estimate.

    References:
        Arjovsky, Chintala & Bottou, "Wasserstein GAN", ICML 2017, eq. (2)-(3).
    """
    return critic_real.mean() - critic_fake.mean()


# ----------------------------------------------------------------------------- end (VAE and GAN)


# ----------------------------------------------------------------------------- SimSiam
# (negative cosine similarity with a stop-gradient on the target, its symmetrised and
# multi-crop forms and Un-Mix's mixture term; each returns a scalar, averaged over the batch.)
def negative_cosine(p: Tensor, z: Tensor, stop_gradient: bool = True) -> Tensor:
    """``D(p, z) = -mean_b cos(p_b, z_b)``, a scalar, for p, z (B, d); with ``stop_gradient``
    no gradient flows into ``z``.

    References:
        Chen & He, "Exploring Simple Siamese Representation Learning", CVPR 2021, eq. (1) and
        (3).
    """
    if stop_gradient:
        z = z.detach()
    return -F.cosine_similarity(p, z, dim=1).mean()


def simsiam_loss(p1: Tensor, p2: Tensor, z1: Tensor, z2: Tensor,
                 stop_gradient: bool = True) -> Tensor:
    """The symmetrised loss ``D(p1, z2) / 2 + D(p2, z1) / 2`` (a scalar) of predictions and
    projections (B, d) of two views; in [-1, 1], -1 exactly when every p_i points along the
    other view's z.

    References:
        Chen & He 2021, eq. (2) (eq. (4) with the stop-gradient).
    """
    return (negative_cosine(p1, z2, stop_gradient) + negative_cosine(p2, z1, stop_gradient)) / 2


def multicrop_loss(p_global: list[Tensor], z_global: list[Tensor], p_local: list[Tensor],
                   stop_gradient: bool = True) -> Tensor:
    """SimSiam's loss over two or more global and any number of small views (a scalar in
    [-1, 1]): the mean of ``D(p_i, z_j)`` over the ordered pairs of different global views and
    over every (small view, global view) pair. The targets z come from the global views only,
    as in multi-crop; with two global views and no small ones it is :func:`simsiam_loss`.

    Args:
        p_global, z_global: predictions and projections (B, d) of the global views.
        p_local: predictions (B, d) of the small views.
        stop_gradient: no gradient through the targets z.

    References:
        Caron et al., "Unsupervised Learning of Visual Features by Contrasting Cluster
        Assignments", NeurIPS 2020, section 3.2 (multi-crop).
    """
    terms = [negative_cosine(p, z, stop_gradient)
             for i, p in enumerate(p_global) for j, z in enumerate(z_global) if i != j]
    terms += [negative_cosine(p, z, stop_gradient) for p in p_local for z in z_global]
    return torch.stack(terms).mean()


def mixture_loss(p_mix: Tensor, z: Tensor, lam: Tensor, stop_gradient: bool = True) -> Tensor:
    """Un-Mix's term for the predictions p_mix (B, d) of mixtures ``lam_b x_b + (1 - lam_b)
    x_{B-1-b}`` (:func:`genzoo.data.views.image_mixtures`) with weights lam (B,):
    ``-mean_b [lam_b cos(p_b, z_b) + (1 - lam_b) cos(p_b, z_{B-1-b})]``, a scalar in [-1, 1],
    with the other view's projections z (B, d) as targets (no gradient into them with
    ``stop_gradient``): a mixture predicts both sources in proportion.

    References:
        Shen et al., "Un-Mix: Rethinking Image Mixtures for Unsupervised Visual Representation
        Learning", AAAI 2022 (the mixture branch's loss).
    """
    if stop_gradient:
        z = z.detach()
    own = F.cosine_similarity(p_mix, z, dim=1)
    other = F.cosine_similarity(p_mix, z.flip(0), dim=1)
    return -(lam * own + (1 - lam) * other).mean()


# ----------------------------------------------------------------------------- end (SimSiam)
