"""``python -m spark_dao``: the ``spark-dao`` command line (see :mod:`spark_dao.cli`).

    python -m spark_dao describe silver.users_clean --catalog conf/catalog.yaml
"""

import sys

from .cli import main

sys.exit(main())
