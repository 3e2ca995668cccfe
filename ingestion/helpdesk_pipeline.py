"""Thin entry point: load the helpdesk source with its settings from .dlt/ or the environment.

python ingestion/helpdesk_pipeline.py        (same as: ciw load helpdesk)
"""

import sys

from ciw.cli import main

if __name__ == "__main__":
    sys.exit(main(["load", "helpdesk", *sys.argv[1:]]))
