"""Process-level helpers below every layer: the clock and process supervision. Imports nothing of ours."""
