"""The pure billing core: from events to days, claim lines, timelines. No I/O, no clock; imports only
`events` and the standard library (checked by import-linter in `make lint`)."""
