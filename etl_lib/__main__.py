"""``python -m etl_lib`` is ``etl-lib``."""

import sys

from etl_lib.cli.main import main

sys.exit(main())
