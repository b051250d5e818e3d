"""What the user reads: the connection banner and notices (report), tables that fit the terminal
(tables), times and durations (times)."""
