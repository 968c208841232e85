"""Validation of HLDs and generated manifests: schema, lint and house rules.

Findings always point at the HLD file and line an object came from, so a failed check
on a pull request tells the author what to edit.
"""

from sandbox.validation.check import CheckReport, check_hld
from sandbox.validation.documents import validate_documents
from sandbox.validation.findings import Finding, object_ref
from sandbox.validation.lint import LINT_CONFIG, lint_hld
from sandbox.validation.policies import image_problem, policy_problems
from sandbox.validation.schema import schema_errors, schema_version

__all__ = [
    "LINT_CONFIG",
    "CheckReport",
    "Finding",
    "check_hld",
    "image_problem",
    "lint_hld",
    "object_ref",
    "policy_problems",
    "schema_errors",
    "schema_version",
    "validate_documents",
]
