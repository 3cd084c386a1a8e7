"""Entropy model: Gaussian conditional, integer coding tables, index selection."""
