"""Thin entry point: load the esp source with its settings from .dlt/ or the environment.

python ingestion/esp_pipeline.py        (same as: ciw load esp)
"""

import sys

from ciw.cli import main

if __name__ == "__main__":
    sys.exit(main(["load", "esp", *sys.argv[1:]]))
