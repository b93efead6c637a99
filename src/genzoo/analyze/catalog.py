"""Imports every module that registers analyses (the :data:`genzoo.registry.analyses`
registry loads this module on first use)."""

from genzoo.analyze import gan, jem, jem_questions  # noqa: F401
