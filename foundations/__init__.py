"""The foundations every layer imports: settings, the database and its tables, the clock,
encryption and keys, the database's identity, logging, the mailer and the start-up checks.
Nothing here imports from another package of the project (docs/architecture.md)."""
