"""Looking at a finished dataset: contact sheets of its frames and an HTML report."""
