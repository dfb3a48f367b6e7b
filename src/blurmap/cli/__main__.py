import sys

from blurmap.cli import main

sys.exit(main())
