"""`policyjobs demo`: an embedded instance with the test clock, driven through a year."""

from policyjobs.demo.tour import run_demo

__all__ = ["run_demo"]
