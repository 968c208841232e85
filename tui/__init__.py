"""The Textual TUI of gitops-sandbox: it drives the pipeline through the `Sandbox` facade."""
