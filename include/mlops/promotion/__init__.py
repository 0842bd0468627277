"""Promotion of challengers to champion: gates, serving check, aliases and their history."""
