"""What an operator runs behind the command line: opt-out lists, replay, trace, smoke, reconcile, migrate."""
