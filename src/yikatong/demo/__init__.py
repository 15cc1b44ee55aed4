"""`ykt demo`: a narrated end-to-end run of the card lifecycle on a fresh database."""
