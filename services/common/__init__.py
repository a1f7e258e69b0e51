"""Pieces every service shares: errors, the application base, the contract mapping, the episode directory."""
