import sys

from wrapped_gateway.cli import command

sys.exit(command())
