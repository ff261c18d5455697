"""Names of the role groups (created by migration 0002_roles)."""

REP = "Sales rep"
MARKETER = "Marketer"
MANAGER = "Sales manager"
ALL = (REP, MARKETER, MANAGER)
