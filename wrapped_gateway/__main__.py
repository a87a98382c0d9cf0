import sys

from wrapped_gateway.cli import main

sys.exit(main())
