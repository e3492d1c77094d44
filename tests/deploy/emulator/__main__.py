"""moto's server, with the additions of resources.py: PYTHONPATH=tests/deploy python -m emulator -H HOST -p PORT"""

import sys

# Imported for its effect: moto finds CloudFormation models by subclass, and the module name
# (package.service) files them in moto's registry.
import emulator.resources  # noqa: F401
from moto.server import main

main(sys.argv[1:])
