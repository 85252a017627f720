"""sparkvalue: 360-degree subscriber marketing on Spark, Delta Lake and MLflow."""
__version__ = "0.1.0"
