"""``python -m musiclust.compare DIR ...`` = ``musiclust-compare DIR ...``."""

import sys

from musiclust.compare.cli import main

sys.exit(main())
