"""Thin entry point: load the pos source with its settings from .dlt/ or the environment.

python ingestion/pos_pipeline.py        (same as: ciw load pos)
"""

import sys

from ciw.cli import main

if __name__ == "__main__":
    sys.exit(main(["load", "pos", *sys.argv[1:]]))
