"""Numbers computed from tensors: likelihoods, KDE, classification and calibration, kNN,
clustering, out-of-distribution scores and the judge's sample scores. Nothing here reads a run
or imports a model family."""
