"""Documents jobs: rendering templates to files for quotes, transactions, segments and invoices."""
