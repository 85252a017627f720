"""Delta tables: locations, documentation and idempotent monthly writes."""
