"""``python -m genzoo``."""

import sys

from genzoo.cli import main

sys.exit(main())
