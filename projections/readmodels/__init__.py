"""The read-model shell: stores per database dialect, the one write path, the queries."""
