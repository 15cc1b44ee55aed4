"""Benefits (issue 14): programmes, enrolments, the paying offices' payee lists, and the
disbursement (代发) of a period's payments into each payee's current card account, through
the partner banks' batch files, with results, a retry queue and reconciliation."""
