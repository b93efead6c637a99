"""genzoo.samplers (filled by later issues)."""
