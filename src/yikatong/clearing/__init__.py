"""Clearing and settlement (清分结算) of transit records: terminal batch files, bulk TAC checks,
duplicates, counter gaps, fare re-rating, ledger settlement, the simulated national clearing
house, shadow balances, reports, and `ykt simulate day`.

One module per step of the clearing day, in the order a file goes through them:

- `receive`: a file received in one transaction (`upload_batch`, `receive_file`), driving the
  steps below;
- `tacs`: our cards' TACs verified in bulk;
- `records`: the records inserted through the unique index, their flags stored as exceptions;
- `settlement`: the ledger postings per (file, operator, issuer), unfunded spending;
- `national_files`: files to the national clearing house and its verdicts;
- `top_ups`: the transit top-up service's loads cleared as a file;
- `day_review`: the day re-rated and its counters checked once its files are in;
- `shadow_balances`, `reports`: what the back office reads (balances, settlement report,
  reconciliation, exceptions);
- `batches`: what a received file answered, and what the steps share.
"""
