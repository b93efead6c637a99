"""Training: the one loop (:mod:`~genzoo.training.loop`), optimizers and schedules, weight EMA,
checkpoints with RNG state, and data parallelism under torchrun."""

from genzoo.training.loop import BatchStream, eval_batches, fit, pick_device, training_device

__all__ = ["BatchStream", "eval_batches", "fit", "pick_device", "training_device"]
