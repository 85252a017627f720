"""Models: value (AHP), stickiness, anomaly; training, tracking and scoring."""
