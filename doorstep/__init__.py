"""doorstep: offline-first field data collection for neighbourhood ledgers.

The work lives in four subpackages whose imports run one way only:
``doorstep.cli -> doorstep.server -> doorstep.sync -> doorstep.forms``.
"""

__version__ = "0.1.0"
