"""Operators' actions on jobs, and the audit trail of every operator action."""
