"""``python -m app …`` is kept for scripts and the Makefile: it runs the ``legalqa`` command.

The command's dispatch lives above the layers in ``legalqa.cli`` (it names ``evals``'
subcommands, which ``app`` itself must never do); this shim only hands over to it.
"""

import sys

from legalqa.cli import main

sys.exit(main())
