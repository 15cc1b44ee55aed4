"""Double-entry accounts and postings shared by transit settlement, the banks and benefits."""
