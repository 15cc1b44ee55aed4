"""Medical insurance: enrolment, designated institutions, real-time settlement (issue 13)."""
