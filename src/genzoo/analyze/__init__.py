"""Analyses of one trained run, rebuilt from its directory alone: evaluation and sampling,
JEM/classifier analyses, GAN latent studies, clustering of learned codes, inpainting."""
