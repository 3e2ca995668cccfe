"""Reverse-ETL: audience marts synced to channels, exactly once, with consent."""
