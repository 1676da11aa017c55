"""``python -m spark_dao.cli``: the ``spark-dao`` command (see :mod:`spark_dao.cli`)."""

import sys

from . import main

sys.exit(main())
