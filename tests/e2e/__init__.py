"""The black-box suite: the service from the outside, over plain HTTP, wherever it runs."""
