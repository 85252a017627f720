"""Synthetic operator data at any scale, Spark-native and deterministic for a seed."""
