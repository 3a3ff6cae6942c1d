"""Installment lattices and the installments split from a term's charges."""
