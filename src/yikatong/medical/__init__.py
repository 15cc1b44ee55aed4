"""Medical insurance (医疗保障): enrolment, designated institutions, real-time settlement of
outpatient, inpatient and pharmacy bills, here and across regions (issue 13).

`rules.py` is the pure settlement (domain-rules §3; docs/medical-policy.md); `policy.py` the versioned,
effective-dated policy it reads (config/policy-changzhou.toml, an example default).
"""
