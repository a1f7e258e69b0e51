"""The pure core of the projections: events in, values out; no I/O, no clock."""
