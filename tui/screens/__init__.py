"""Screens of the TUI: the main tabs, a pull request, help, and dialogs."""
