"""Tourism and venues: tickets, passes and gates (issue 15, seed 三.6)."""
