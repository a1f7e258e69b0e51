"""The pure core: functions from events to read models, with no I/O and no clock."""
