"""A session and its records: its name, its checked folder and what lives in it, its launches'
records, whether it runs (judgement: the one judgement every caller asks), its state for the
session commands, its usage, and talking to its server (client)."""
