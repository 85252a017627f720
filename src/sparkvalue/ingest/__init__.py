"""Landing -> bronze: validate every row, quarantine the bad ones with the reason."""
