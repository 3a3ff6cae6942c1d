"""The events endpoint: validate a batch whole, then hand each event to its domain."""
