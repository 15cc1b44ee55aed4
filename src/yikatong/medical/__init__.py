"""Medical insurance (医保): enrolment, designated institutions, visits and their settlement,
cross-region care and the inter-region clearing (issue 13)."""
