"""Samplers shared by every family: Langevin dynamics on energy or gradient callables
(:mod:`~genzoo.samplers.langevin`), the Langevin chain object of the energy-based families
(:mod:`~genzoo.samplers.chain`), the replay buffer and chain initializations."""
