"""The claims service: what was billed (shared/claims.md). What should be billed is the projections'."""
