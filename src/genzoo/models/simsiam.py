"""SimSiam: self-supervised representations from two augmented views, without negatives.

Each batch is augmented twice, ``x1, x2 = aug(x), aug(x)``. The encoder f (a backbone to
features, then a projection MLP to ``z`` of size d = ``proj_dim``) and a predictor MLP h give
``z_i = f(x_i)`` and ``p_i = h(z_i)``; the loss is the symmetrised negative cosine similarity
with a stop-gradient on the target::

    D(p, z) = -<p / |p|, z / |z|>,   L = D(p1, stopgrad(z2)) / 2 + D(p2, stopgrad(z1)) / 2

The stop-gradient is what keeps the representation from collapsing to a constant (``model.
stop_gradient: false`` reproduces the paper's collapse, watched by ``z_std``: the standard
deviation over the batch of ``z / |z|``, averaged over its d dimensions, about ``1 / sqrt(d)``
for a healthy representation and 0 for a collapsed one). ``predictor: identity`` is the paper's
other ablation (it collapses too). ``z_rank`` (:func:`effective_rank` of the normalised z
over the batch) watches *dimensional* collapse, which ``z_std`` misses: outputs confined to a
few directions.

The features: with ``encoder_output: pooled`` the backbone's pooled activations, its linear
head removed (the paper's ResNet without its fc layer); with ``head`` (the default, which
older runs were trained with) those through the backbone's linear head to ``feature_dim``.
Projector: ``proj_layers`` linear layers of width d, each followed by batch norm, ReLU after
all but the last (the last BN without affine parameters, as the official code has it).
Predictor: Linear(d, ``pred_hidden``) - BN - ReLU - Linear(``pred_hidden``, d), a bottleneck
of d / 4 in the paper. Augmentations, batched on the training device (see
:mod:`genzoo.data.views`): random resized crop, left-right flip, colour jitter (brightness and
contrast only for grey images; plus saturation and hue for RGB), random greyscale (RGB), and,
off by default, Gaussian blur, solarization and random erasing.

Validation adds ``knn_acc``, the kNN monitor: validation images classified by a weighted vote
of their ``knn_k`` most similar training images in the encoder's feature space (Wu et al.
2018), with the training split given by :meth:`SimSiam.attach`. ``features(x)`` gives the
encoder's features (B, feature_dim) for downstream use. SimSiam has no ``sample``.

With ``nn_queue: N`` (off by default) the targets are nearest neighbours: each view's z is
replaced, as a target, by the most similar of the last N first-view projections of earlier
batches (a FIFO support set, cosine similarity), so a view learns to predict *another* image
that the encoder already places close by. That pulls similar images of different instances
together, beyond what the augmentations relate (NNCLR, Dwibedi et al. 2021, introduced the
substitution for a contrastive loss; here it replaces SimSiam's targets). Until the queue
holds a batch the targets are the plain ones; validation always reports the plain loss. The
queue is a buffer: it is saved with the checkpoints (so a resumed run continues exactly) and,
under ``torchrun``, broadcast from rank 0 like the batch-norm statistics.

With ``mix: w`` (off by default) each training step adds Un-Mix's term with weight w: the first
views are blended with the batch in reverse order, ``lam x_b + (1 - lam) x_{B-1-b}`` with lam
uniform per image, and the blend's prediction targets both sources' second-view z in proportion
(:func:`mixture_loss`; one more forward-backward pass a step).

The predictor's learning rate stays at ``train.lr`` while the rest follows the schedule, as in
the paper (``model.fixed_predictor_lr: false`` decays it too; the paper's ablation finds that
slightly worse).

References:
    Chen & He, "Exploring Simple Siamese Representation Learning", CVPR 2021 (eq. (1)-(4),
    Algorithm 1; section 4.1 for the collapse diagnostic; appendix for the CIFAR recipe:
    ResNet-18 with a 3x3 stem, 2-layer projector, SGD lr 0.03 x batch / 256, weight decay
    5e-4, momentum 0.9, cosine schedule, 800 epochs, kNN monitor k = 200).
    Wu, Xiong, Yu & Lin, "Unsupervised Feature Learning via Non-Parametric Instance
    Discrimination", CVPR 2018 (the weighted kNN classifier).
    Dwibedi, Aytar, Tompson, Sermanet & Zisserman, "With a Little Help from My Friends:
    Nearest-Neighbor Contrastive Learning of Visual Representations", ICCV 2021 (nearest
    neighbours from a support queue as the positives; ``nn_queue``).
    Shen et al., "Un-Mix: Rethinking Image Mixtures for Unsupervised Visual Representation
    Learning", AAAI 2022 (``mix``).

Example:
    >>> import genzoo
    >>> run = genzoo.train("simsiam-mnist", ["data.limit=64", "data.val_limit=64",
    ...                                      "train.batch_size=32", "train.epochs=null",
    ...                                      "train.steps=2"], quiet=True)
    >>> model = genzoo.load(run)
    >>> x_uint8 = genzoo.data.load_dataset("mnist", "test").x[:8]
    >>> model.features(model.prepare(x_uint8).x).shape[0]
    8
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.config import param
from genzoo.data.base import Dataset, DatasetInfo
from genzoo.data.views import ViewConfig, image_mixtures, random_view
from genzoo.errors import ConfigError
from genzoo.losses import mixture_loss, multicrop_loss, simsiam_loss
from genzoo.metrics.knn import knn_accuracy
from genzoo.models.base import Batch, LossOutput, Method
from genzoo.nets.base import NetConfig
from genzoo.nets.conv import SmallCNNConfig
from genzoo.registry import methods

#: training images encoded at once for the kNN feature bank (memory-bounded)
BANK_CHUNK = 512


def nearest_neighbours(z: Tensor, support: Tensor) -> Tensor:
    """The rows of ``support`` (N, d) most cosine-similar to each row of ``z`` (B, d): a
    (B, d) tensor of support rows (the first of equally similar ones), without gradient.

    References:
        Dwibedi et al. 2021 (the support-set lookup NN(z, Q)).
    """
    with torch.no_grad():
        sim = F.normalize(z.detach(), dim=1) @ F.normalize(support, dim=1).T
        return support[sim.argmax(dim=1)]


def collapse_std(z: Tensor) -> Tensor:
    """Std over the batch of ``z / |z|`` (B, d), averaged over the d dimensions (a scalar).

    0 for a collapsed (constant) output; ``1 / sqrt(d)`` for isotropic Gaussian z (each
    coordinate of a uniform direction on the sphere has variance 1 / d).

    References:
        Chen & He 2021, section 4.1 and figure 2 (middle).
    """
    return F.normalize(z, dim=1).std(dim=0).mean()


def effective_rank(z: Tensor) -> Tensor:
    """Effective rank of the centred batch ``z`` (B, d), a scalar in [1, min(B, d)]:
    ``exp(H(p))`` with ``p_i = s_i / sum_j s_j`` the normalised singular values.

    1 when the batch varies along one direction, ``d`` when it varies equally along all d.
    Unlike :func:`collapse_std` it sees *dimensional* collapse: outputs spread over the sphere
    but confined to a few directions keep ``collapse_std`` near ``1 / sqrt(d)`` while their
    effective rank falls to a handful.

    References:
        Roy & Vetterli, "The effective rank: a measure of effective dimensionality", EUSIPCO
        2007 (the definition); Jing et al., "Understanding Dimensional Collapse in Contrastive
        Self-supervised Learning", ICLR 2022 (the failure mode it watches).
    """
    s = torch.linalg.svdvals((z - z.mean(0)).float())
    p = s / s.sum().clamp_min(1e-12)
    return torch.exp(-(p * p.clamp_min(1e-12).log()).sum())


def projection_mlp(dims: list[int]) -> nn.Sequential:
    """Linear - BN - ReLU blocks through ``dims`` (d_0 -> d_1 -> ... -> d_n), the last Linear
    followed by BN without affine parameters and without ReLU. The Linear layers have no bias
    (the BN after each removes it).

    References:
        Chen & He 2021, section 4.1 (projection MLP) and the official code (the last BN).
    """
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        last = i == len(dims) - 2
        layers += [nn.Linear(a, b, bias=False), nn.BatchNorm1d(b, affine=not last)]
        if not last:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


@dataclass
class SimSiamConfig(ViewConfig):
    """``model:`` section of a SimSiam preset (the view keys of
    :class:`~genzoo.data.views.ViewConfig`, plus these)."""

    encoder: NetConfig = param(
        default_factory=lambda: SmallCNNConfig(width=32, stages=3, norm="batch"),
        help="backbone: images -> features of size feature_dim (genzoo list nets)")
    encoder_output: Literal["head", "pooled"] = param(
        "head", "what the encoder gives the projector, the kNN monitor and features(): "
        "'pooled', the backbone's pooled activations before its linear head (the paper's "
        "ResNet without its fc layer; feature_dim is then unused), or 'head', those through "
        "the backbone's linear head to feature_dim")
    feature_dim: int = param(512, "size of the backbone's linear head (the features' size "
                             "with encoder_output: head)", ge=1)
    proj_dim: int = param(2048, "d: width of the projection MLP and size of z and p", ge=1)
    proj_layers: int = param(2, "linear layers of the projector (2 for CIFAR, 3 for ImageNet "
                             "in the paper)", ge=1)
    pred_hidden: int = param(512, "bottleneck of the predictor MLP (d / 4 in the paper)", ge=1)
    predictor: Literal["mlp", "identity"] = param(
        "mlp", "predictor h: the MLP, or the identity (an ablation that collapses)")
    stop_gradient: bool = param(True, "stop the gradient through the target z (false: the "
                                "ablation that collapses)")
    nn_queue: int = param(0, "nearest-neighbour targets: each target z is replaced by the most "
                          "similar of the last nn_queue first-view projections of earlier "
                          "batches (NNCLR's support set; 0: off, plain SimSiam)", ge=0)
    mix: float = param(0.0, "Un-Mix: weight of an extra term in which a blend lam x_b + (1 - "
                       "lam) x_{B-1-b} of the first views (lam uniform per image) predicts "
                       "both sources' z in proportion (0: off; the paper: 1)", ge=0)
    fixed_predictor_lr: bool = param(True, "keep the predictor's learning rate at train.lr "
                                     "(no warm-up or decay), as the paper does")
    knn_k: int = param(200, "kNN monitor: neighbours per validation image", ge=1)
    knn_temperature: float = param(0.1, "kNN monitor: temperature T of the exp(sim / T) "
                                   "vote weights", gt=0)
    knn_bank: int | None = param(None, "kNN monitor: training items in the feature bank (the "
                                 "first N of the split; null: all; 0: no monitor)", ge=0)

    def validate(self) -> None:
        super().validate()
        if self.nn_queue and not self.stop_gradient:
            raise ConfigError("model.nn_queue: nearest-neighbour targets come from a queue "
                              "and carry no gradient, so they cannot be used with "
                              "stop_gradient: false (the ablation)")


@methods.register("simsiam")
class SimSiam(Method):
    """Encoder f = projector(backbone(x)) and predictor h, trained by the SimSiam loss on two
    augmented views; a representation method (no ``sample``)."""

    Config = SimSiamConfig
    data_range = (0.0, 1.0)
    capabilities = frozenset({"features", "attach"})
    name = "simsiam"

    def __init__(self, cfg: SimSiamConfig, info: DatasetInfo) -> None:
        super().__init__(cfg, info)
        if info.kind != "image" or len(info.shape) != 3 or info.shape[0] not in (1, 3):
            raise ConfigError(f"method 'simsiam' needs grey or RGB images (its augmentations "
                              f"are image operations); dataset {info.name!r} has items of "
                              f"shape {info.shape}")
        d = cfg.proj_dim
        self.encoder = cfg.encoder.build(info.shape, cfg.feature_dim)
        #: size of the features (B, feature_dim) that :meth:`features` gives
        self.feature_dim = cfg.feature_dim
        if cfg.encoder_output == "pooled":
            head = getattr(self.encoder, "head", None)
            if not isinstance(head, nn.Linear):
                raise ConfigError(f"model.encoder_output: pooled needs a backbone whose last "
                                  f"layer is a linear head; net {cfg.encoder.name!r} has none "
                                  f"(use encoder_output: head)")
            self.feature_dim = head.in_features
            self.encoder.head = nn.Identity()
        self.projector = projection_mlp([self.feature_dim] + [d] * cfg.proj_layers)
        self.predictor: nn.Module = nn.Identity()
        if cfg.predictor == "mlp":
            h = cfg.pred_hidden
            self.predictor = nn.Sequential(nn.Linear(d, h, bias=False), nn.BatchNorm1d(h),
                                           nn.ReLU(), nn.Linear(h, d))
        self.train_data: Dataset | None = None
        if cfg.nn_queue:
            #: support set of earlier first-view projections (nn_queue, d), filled FIFO
            self.register_buffer("queue", torch.zeros(cfg.nn_queue, d))
            #: projections ever pushed (the slot of the next one is this modulo nn_queue)
            self.register_buffer("queue_pushed", torch.zeros((), dtype=torch.long))

    # ------------------------------------------------------------------ the networks
    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Projection z (B, d) and prediction p = h(z) (B, d) of images x (B, C, H, W)."""
        z = self.projector(self.encoder(x))
        return z, self.predictor(z)

    @torch.no_grad()
    def features(self, x: Tensor) -> Tensor:
        """Encoder features (B, feature_dim) of images x (B, C, H, W) in [0, 1], computed in
        eval mode (batch-norm running statistics) without gradients."""
        was_training = self.training
        self.encoder.eval()
        try:
            return self.encoder(x)
        finally:
            self.encoder.train(was_training)

    def augment(self, x: Tensor, local: bool = False) -> Tensor:
        """One random view of each image (B, C, H, W) in [0, 1], as configured; ``local``: a
        small multi-crop view (B, C, local_size, local_size) of area ``local_scale`` (see
        :func:`~genzoo.data.views.random_view`)."""
        return random_view(x, self.cfg, local)

    # ------------------------------------------------------------------ the contract
    def loss(self, batch: Batch) -> LossOutput:
        """The SimSiam loss of two augmented views of ``batch.x`` (labels are ignored).

        With more than two ``views`` or with ``local_crops``, the loss is
        :func:`multicrop_loss` over every global view (each predicting every other's z) and the
        small views.

        Metrics: ``cos``, the mean cosine of p and the other view's z over the first two global
        views (= -loss with two views and no small ones); ``z_std``,
        :func:`collapse_std` of the first view's z, and ``z_std_sqrt_d``, that times sqrt(d)
        (about 1 when healthy, 0 when collapsed); ``z_rank``, :func:`effective_rank` of the
        first view's normalised z (falls to a few under dimensional collapse). In training
        with ``nn_queue`` the targets are the neighbours (``cos`` is then against them) and
        ``nn_cos`` is the mean cosine of the first view's z and its neighbour; with ``mix``,
        ``mix_cos`` is minus :func:`mixture_loss` (the loss adds ``mix`` times that term).
        """
        xs = [self.augment(batch.x) for _ in range(self.cfg.views)]
        views = [self(x) for x in xs]
        zs, ps = [z for z, _ in views], [p for _, p in views]
        z1, p1 = views[0]
        metrics: dict[str, float] = {}
        if self.cfg.nn_queue and self.training:
            zs, metrics["nn_cos"] = self._neighbour_targets(zs)
        loss = pair = simsiam_loss(p1, ps[1], zs[0], zs[1], self.cfg.stop_gradient)
        p_local: list[Tensor] = []
        if self.cfg.local_crops:
            n = self.cfg.local_crops  # the small views go through the networks as one batch
            _, small = self(torch.cat([self.augment(batch.x, local=True) for _ in range(n)]))
            p_local = list(small.chunk(n))
        if p_local or len(views) > 2:
            loss = multicrop_loss(ps, zs, p_local, self.cfg.stop_gradient)
        if self.cfg.mix and self.training:
            lam = torch.rand(len(xs[0]), device=xs[0].device)
            _, p_mix = self(image_mixtures(xs[0], lam))
            term = mixture_loss(p_mix, zs[1], lam, self.cfg.stop_gradient)
            loss = loss + self.cfg.mix * term
            metrics["mix_cos"] = -term.item()
        z_std = collapse_std(z1.detach()).item()
        return LossOutput(loss, {"cos": -pair.item(), "z_std": z_std,
                                 "z_std_sqrt_d": z_std * math.sqrt(z1.shape[1]),
                                 "z_rank": effective_rank(F.normalize(z1.detach(), dim=1)).item(),
                                 **metrics})

    def _neighbour_targets(self, zs: list[Tensor]) -> tuple[list[Tensor], float]:
        """``nn_queue``: the targets of the views' projections zs (each (B, d)), each z replaced
        by its :func:`nearest_neighbours` in the queue (filled part only; the plain zs while it
        holds less than a batch), and the mean cosine of z and its neighbour (``nn_cos``, 1.0
        with the plain targets). The first view's z then enters the queue, so it never serves
        as its own neighbour. Training mode only: validation reports the plain loss and leaves
        the queue alone (with ``train.ema_decay`` the averaged queue is never read)."""
        queue, z1, pushed = self.queue, zs[0].detach().float(), int(self.queue_pushed)
        filled = min(pushed, len(queue))
        targets, cos = zs, 1.0
        if filled >= len(z1):  # one lookup for every view: the support is normalised once
            found = nearest_neighbours(torch.cat(zs).float(), queue[:filled])
            targets = list(found.chunk(len(zs)))
            cos = F.cosine_similarity(z1, targets[0], dim=1).mean().item()
        new = z1[-len(queue):]
        queue[(pushed + torch.arange(len(new), device=queue.device)) % len(queue)] = new
        self.queue_pushed += len(new)
        return targets, cos

    def param_groups(self) -> dict[str, list]:
        """One optimizer; the predictor in its own group, marked ``fixed_lr`` when
        ``fixed_predictor_lr`` (the schedule then leaves its learning rate alone)."""
        head = [p for p in self.predictor.parameters() if p.requires_grad]
        ids = {id(p) for p in head}
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in ids]
        groups: list = [{"params": rest}]
        if head:
            groups.append({"params": head, "fixed_lr": self.cfg.fixed_predictor_lr})
        return {"main": groups}

    def attach(self, train: Dataset) -> None:
        """Keep (a reference to) the training split: the kNN monitor's labelled bank."""
        self.train_data = train

    @torch.no_grad()
    def encode(self, data: Dataset, limit: int | None = None) -> Tensor:
        """:meth:`features` (N, feature_dim) of the first ``limit`` (default all) stored items
        of ``data``, without augmentation, ``BANK_CHUNK`` at a time, on the method's device."""
        n = len(data) if limit is None else min(limit, len(data))
        chunks = [self.features(self.prepare(data.x[s:min(s + BANK_CHUNK, n)].to(self.device)).x)
                  for s in range(0, n, BANK_CHUNK)]
        return torch.cat(chunks) if chunks else torch.empty(0, self.feature_dim)

    @torch.no_grad()
    def evaluate(self, batches: Iterable[Batch]) -> dict[str, float]:
        """The loss metrics averaged over ``batches``, plus ``knn_acc`` (in [0, 1]) when a
        labelled training split is attached and ``knn_bank`` is not 0: the validation images'
        :func:`~genzoo.metrics.knn.knn_predict` accuracy against the training bank."""
        queries: list[Tensor] = []
        labels: list[Tensor] = []
        train = self.train_data
        monitor = (train is not None and train.y is not None and self.cfg.knn_bank != 0
                   and len(train) > 0 and bool(self.info.num_classes))

        def tap(stream: Iterable[Batch]) -> Iterator[Batch]:
            for batch in stream:
                if monitor and batch.y is not None:
                    queries.append(self.features(batch.x))
                    labels.append(batch.y)
                yield batch

        numbers = super().evaluate(tap(batches))
        if monitor and queries and train is not None and train.y is not None:
            bank = self.encode(train, self.cfg.knn_bank)
            numbers["knn_acc"] = knn_accuracy(
                torch.cat(queries), torch.cat(labels), bank, train.y[:len(bank)].to(bank.device),
                int(self.info.num_classes or 0), self.cfg.knn_k, self.cfg.knn_temperature)
        return numbers
