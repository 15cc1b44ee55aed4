"""Background work: each domain's `jobs.py` lists its periodic jobs; `ykt worker` runs them."""
