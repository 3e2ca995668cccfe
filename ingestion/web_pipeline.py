"""Thin entry point: load the web source with its settings from .dlt/ or the environment.

python ingestion/web_pipeline.py        (same as: ciw load web)
"""

import sys

from ciw.cli import main

if __name__ == "__main__":
    sys.exit(main(["load", "web", *sys.argv[1:]]))
