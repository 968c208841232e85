"""Widgets of the TUI: the pipeline, tables and the event log."""
