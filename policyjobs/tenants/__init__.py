"""Tenants and their YAML configuration."""
