"""Identity: users are looked up by normalised name and compared by id; look-alikes and
empty names are unknown users; the author of a PR is whoever pushed its head; the bots
do only their jobs. Every refusal leaves repositories, database and cluster alone."""

from __future__ import annotations

import pytest

from sandbox.cli import main
from sandbox.facade import Sandbox, SandboxError
from sandbox.pullrequests import PullRequestError

from .conftest import commit, git


@pytest.fixture
def pr_by_operator(sandbox: Sandbox, clone_as) -> int:  # type: ignore[no-untyped-def]
    clone = clone_as(sandbox.root, "operator")
    commit(clone, message="Operator's change")
    branch = f"op-{len(sandbox.list_prs()) + 1}"
    assert git("push", "-q", "origin", f"HEAD:{branch}", cwd=clone).returncode == 0
    # Opened by the reviewer: the author is still who pushed.
    pr = sandbox.open_pr(branch, author="reviewer")
    assert (pr.author, pr.author_id) == ("operator", sandbox.users.get("operator").id)
    return pr.id


@pytest.mark.parametrize("spoof", ["Operator", " operator ", "OPERATOR\t", "ｏｐｅｒａｔｏｒ"])
def test_case_whitespace_and_width_are_the_same_user(
        sandbox: Sandbox, pr_by_operator: int, unchanged, spoof: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PullRequestError, match="operator pushed to .* cannot approve it"):
        sandbox.approve_pr(pr_by_operator, spoof)
    unchanged()


@pytest.mark.parametrize("spoof", ["оperator", "reviewеr", "", "   ", "mallory"])
def test_look_alikes_and_empty_names_are_unknown_users(
        sandbox: Sandbox, pr_by_operator: int, unchanged, spoof: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SandboxError, match="no user .* users: operator, reviewer"):
        sandbox.approve_pr(pr_by_operator, spoof)
    unchanged()


def test_the_cli_refuses_spoofed_names_with_the_list_of_users(
        sandbox: Sandbox, pr_by_operator: int, unchanged, capsys) -> None:  # type: ignore[no-untyped-def]
    w = ["-w", str(sandbox.root)]
    assert main(["pr", "approve", str(pr_by_operator), *w, "--as", "оperator"]) == 1
    assert "no user 'оperator'" in capsys.readouterr().err
    assert main(["--as", "", "pr", "approve", str(pr_by_operator), *w]) == 1
    assert "no user ''" in capsys.readouterr().err
    # Without --as, the configured user (operator, the author) is refused.
    assert main(["pr", "approve", str(pr_by_operator), *w]) == 1
    assert "cannot approve" in capsys.readouterr().err
    unchanged()


def test_whoever_pushed_to_the_branch_cannot_approve(sandbox: Sandbox, clone_as,  # type: ignore[no-untyped-def]
                                                     pr_by_operator: int) -> None:
    pr = sandbox.get_pr(pr_by_operator)
    clone = clone_as(sandbox.root, "reviewer")
    git("fetch", "-q", "origin", pr.head, cwd=clone, check=True)
    git("checkout", "-q", "FETCH_HEAD", cwd=clone, check=True)
    commit(clone, "review.txt", message="Reviewer adds to it")
    assert git("push", "-q", "origin", f"HEAD:{pr.head}", cwd=clone).returncode == 0
    sandbox.prs.update_head(pr.id, git("rev-parse", "HEAD", cwd=clone).stdout.strip())
    for who in ("reviewer", "operator"):
        with pytest.raises(PullRequestError, match="cannot approve"):
            sandbox.approve_pr(pr.id, who)
    assert sandbox.get_pr(pr.id).approvals == []
    _, _ = sandbox.add_user("carol")
    assert sandbox.approve_pr(pr.id, "carol").approvals == ["carol"]
    sandbox.close_pr(pr.id, "carol")


def test_bots_act_only_within_their_job(sandbox: Sandbox, clone_as, pr_by_operator: int,  # type: ignore[no-untyped-def]
                                        unchanged) -> None:
    for bot in ("release-bot", "rollback-bot", "generate-bot"):
        with pytest.raises(PullRequestError, match=f"{bot} is a bot .* cannot approve"):
            sandbox.approve_pr(pr_by_operator, bot)
    with pytest.raises(PullRequestError, match="release-bot is a bot .* cannot merge"):
        sandbox.merge_pr(pr_by_operator, "release-bot")
    with pytest.raises(PullRequestError, match="rollback-bot is a bot .* cannot merge a change"):
        sandbox.merge_pr(pr_by_operator, "rollback-bot")
    release = clone_as(sandbox.root, "release-bot")
    commit(release, message="Not a release")
    proc = git("push", "origin", "HEAD:refs/heads/feature-x", cwd=release)
    assert proc.returncode != 0
    assert "release-bot is a bot that only opens release pull requests" in proc.stderr
    generate = clone_as(sandbox.root, "generate-bot")
    commit(generate, message="Not manifests")
    proc = git("push", "origin", "HEAD:refs/heads/DEPLOY/web-9", cwd=generate)
    assert proc.returncode != 0 and "generate-bot is a bot" in proc.stderr
    with pytest.raises(PullRequestError, match="release-bot is a bot .* cannot open a change"):
        sandbox.open_pr(sandbox.get_pr(pr_by_operator).head, author="release-bot")
    unchanged()


def test_user_names_are_checked_when_added(sandbox: Sandbox) -> None:
    for bad in ("Mallory!", "bоb", "", "9lives", "a" * 33):
        with pytest.raises(SandboxError):
            sandbox.add_user(bad)
    with pytest.raises(SandboxError, match="exists already"):
        sandbox.add_user("Operator")
