"""Invoicing: the daily generation schedule, immediate and early invoicing, and payments."""
