"""Medical insurance (医保): enrolment, designated institutions, visits and real-time settlement
(issue 13; domain-rules §3)."""
