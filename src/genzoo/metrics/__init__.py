"""genzoo.metrics (filled by later issues)."""
