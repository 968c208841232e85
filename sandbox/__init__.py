"""gitops-sandbox engine: every stage of the GitOps loop, without a screen."""

__version__ = "0.1.0"
