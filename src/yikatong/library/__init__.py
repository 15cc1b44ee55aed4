"""Library: the card as the reader card (issue 15, seed 三.7)."""
