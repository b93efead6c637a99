"""Samplers shared by every family: Langevin dynamics (acting on gradient callables) and the
replay buffer."""

from genzoo._discover import import_submodules

import_submodules(__name__, __path__)
