"""Marketing: the matrix that turns the four views of a subscriber into one strategy."""
