"""Run mailsink with ``python -m mailsink``."""

import sys

from mailsink.cli import main

sys.exit(main())
