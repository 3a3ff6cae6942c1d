"""Delinquency: grace periods, their events and lapses, for invoices left unpaid."""
