"""Thin entry point: load the shop source with its settings from .dlt/ or the environment.

python ingestion/shop_pipeline.py        (same as: ciw load shop)
"""

import sys

from ciw.cli import main

if __name__ == "__main__":
    sys.exit(main(["load", "shop", *sys.argv[1:]]))
