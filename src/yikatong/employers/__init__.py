"""Employers: which employer an employer agent acts for, and whom that employer employs.

An employer agent (单位经办人) sees and registers only people with an open link to their
employer; the employer batch registration makes the links."""
