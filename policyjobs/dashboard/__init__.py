"""The dashboard: server-rendered pages over the jobs a token may see, with no JavaScript."""
