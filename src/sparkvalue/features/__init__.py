"""Silver features: subscriber-month usage features, call-circle graph features, warnings."""
