import sys

from legalqa.cli import main

sys.exit(main())
