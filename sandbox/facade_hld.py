"""The facade's edits of the HLD, as an operator makes them from a clone: files
committed on a branch, `fab set`-like config changes, reverts of merged changes; each
pushed through the git server as its user, so the branch policy judges it."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .branches import merge_of_pr
from .events import EventBus
from .facade_waits import SandboxError
from .gitserver import remote
from .gitutil import GitError, git, rev, short
from .limits import env_name_problem
from .pullrequests import PullRequest, PullRequests

if TYPE_CHECKING:
    from .users import User
    from .workspace import Settings, Workspace


def _refuse_unknown_keys(work: Path, assignments: list[str], subcomponent: str | None) -> None:
    from . import hld as hldlib

    known = hldlib.known_config_keys(work, subcomponent)
    who = subcomponent or "the root component"
    for item in assignments:
        dotted = ".".join(hldlib.parse_assignment(item)[0])
        if dotted in known:
            continue
        inner = sorted(k for k in known if k.startswith(dotted + "."))
        if inner:
            raise SandboxError(f"{dotted!r} of {who} is a map, not a value; set one of its "
                               f"keys: {', '.join(inner)}")
        close = difflib.get_close_matches(dotted, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        listed = ", ".join(sorted(known)) or "none yet"
        raise SandboxError(f"{who} has no config key {dotted!r}{hint}; its keys: {listed}. "
                           "To add a new key, repeat with --new-key")


class HldEdits:
    """Commits and reverts on the HLD (mixed into the facade's Sandbox, after the
    mixins that give what is declared here)."""

    ws: Workspace
    prs: PullRequests
    bus: EventBus

    @property
    def settings(self) -> Settings:
        raise NotImplementedError

    def _user(self, who: str | User | None) -> User:
        raise NotImplementedError

    def _auth(self, user: User) -> dict[str, str]:
        raise NotImplementedError

    def commit_files(self, branch: str, files: dict[str, str | None], message: str,
                     author: str | None = None, base: str = "main",
                     edit: Callable[[Path], None] | None = None) -> str:
        """Commit changes to the HLD on `branch` (created from `base` when new) and push it,
        as an operator would from a clone. A None content deletes the file."""
        if branch == "main":
            raise SandboxError("changes go on a branch, not on main: pick a branch name")
        try:
            git("check-ref-format", "--branch", branch)
        except GitError:
            raise SandboxError(f"{branch!r} is not a valid branch name: use letters, digits "
                               "and - _ / . (no spaces, no '..')") from None
        hld = self.ws.hld_git
        start = rev(hld, f"refs/heads/{branch}") or rev(hld, f"refs/heads/{base}")
        if start is None:
            raise SandboxError(f"base branch '{base}' does not exist")
        user = self._user(author)
        auth = self._auth(user)
        with self.ws.tempdir("change-") as tmp:
            work = Path(tmp) / "work"
            # Each branch's newest commit only: a full clone would cost more every merge.
            git("clone", "--quiet", "--no-checkout", "--depth=1", "--no-single-branch",
                remote.repo_url(self.ws.root, "hld"), str(work), env_extra=auth)
            git("checkout", "--quiet", "-B", branch, start, cwd=work)
            for rel, content in files.items():
                target = (work / rel).resolve()
                if work.resolve() not in target.parents:
                    raise SandboxError(f"{rel}: path is outside the HLD repository")
                if content is None:
                    target.unlink(missing_ok=True)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(content)
            if edit is not None:
                edit(work)
            git("add", "-A", cwd=work)
            if not git("status", "--porcelain", cwd=work).strip():
                raise SandboxError("nothing changed: the branch already has these values")
            git("commit", "--quiet", "-m", message, cwd=work, identity=user.identity)
            _push_branch(work, branch, auth)
            sha = git("rev-parse", "HEAD", cwd=work).strip()
        self.ws.poke()
        return sha

    def change(self, branch: str, assignments: list[str], env: str | None = None,
               subcomponent: str | None = None, message: str | None = None,
               author: str | None = None, new_key: bool = False) -> str:
        """A `fab set`-like config change committed on a branch and pushed.

        A key the subcomponent does not know yet is refused unless ``new_key``: unlike
        ``fab set``, a typo must not become a new, unused key that passes every check.
        """
        from . import hld as hldlib

        env = env or self.settings.environments[0]
        problem = env_name_problem(env)
        if problem:
            raise SandboxError(problem)

        def edit(work: Path) -> None:
            try:
                if subcomponent:
                    names = [c.name for c in hldlib.load_component(work).subcomponents]
                    if subcomponent.split(".")[0] not in names:
                        raise SandboxError(f"the HLD has no subcomponent {subcomponent!r}; "
                                           f"it has: {', '.join(names) or 'none'}")
                if not new_key:
                    _refuse_unknown_keys(work, assignments, subcomponent)
                hldlib.set_values(work, assignments, env=env, subcomponent=subcomponent)
            except hldlib.HldError as exc:
                raise SandboxError(str(exc)) from exc

        where = f" of {subcomponent}" if subcomponent else ""
        return self.commit_files(branch, {}, message or f"Set {', '.join(assignments)}{where}",
                                 author=author, edit=edit)

    def hld_file(self, path: str, ref: str = "main") -> str:
        try:
            return git("show", f"{ref}:{path}", git_dir=self.ws.hld_git)
        except GitError as exc:
            raise SandboxError(f"{path} not found on {ref}") from exc

    # -- revert --------------------------------------------------------------
    def revert(self, ref: str | None = None, author: str | None = None,
               description: str | None = None) -> PullRequest:
        from .pipelines import enqueue

        user = self._user(author)
        hld = self.ws.hld_git
        target = ref or git("rev-list", "--merges", "-1", "refs/heads/main",
                            git_dir=hld).strip()
        if not target:
            raise SandboxError("main has no merged pull request to revert; name a commit")
        sha = rev(hld, target) or merge_of_pr(self.ws.store, target)
        if sha is None:
            raise SandboxError(f"{target!r} is not a commit in the HLD repository, nor a "
                               "merged pull request (#N) or its branch")
        if not self._is_ancestor(sha):
            raise SandboxError(f"{short(sha)} is not on main; only changes on main are reverted")
        parents = git("rev-list", "--parents", "-1", sha, git_dir=hld).split()[1:]
        subject = git("log", "-1", "--format=%s", sha, git_dir=hld).strip()
        title_src = subject
        if len(parents) > 1:
            body = git("log", "-1", "--format=%b", sha, git_dir=hld).strip().splitlines()
            title_src = body[0] if body else subject
        branch = f"revert-{short(sha)}"
        if rev(hld, f"refs/heads/{branch}"):
            raise SandboxError(f"branch {branch} exists already: a revert of {short(sha)} is "
                               "under way (see 'gitops-sandbox pr list')")
        auth = self._auth(user)
        with self.ws.tempdir("revert-") as tmp:
            work = Path(tmp) / "work"
            git("clone", "--quiet", remote.repo_url(self.ws.root, "hld"), str(work),
                env_extra=auth)
            git("checkout", "--quiet", "-b", branch, cwd=work)
            args = ["revert", "--no-edit"] + (["-m", "1"] if len(parents) > 1 else []) + [sha]
            try:
                git(*args, cwd=work, identity=user.identity)
            except GitError as exc:
                raise SandboxError(f"{short(sha)} does not revert cleanly on main: "
                                   f"{exc.stderr}") from exc
            _push_branch(work, branch, auth)
        pr = self.prs.open(branch, f'Revert "{title_src}"', author=user, kind="revert",
                           body=description or f"Reverts {short(sha)}.")
        enqueue(self.ws, "validate", pr=pr.id, sha=pr.head_sha)
        self.bus.publish("revert.created", "revert",
                         f"revert of {short(sha)} opened as pull request #{pr.id}",
                         pr=pr.id, reverted=sha)
        return pr

    def _is_ancestor(self, sha: str) -> bool:
        try:
            git("merge-base", "--is-ancestor", sha, "refs/heads/main", git_dir=self.ws.hld_git)
        except GitError:
            return False
        return True


def _push_branch(work: Path, branch: str, auth: dict[str, str]) -> None:
    """Push a clone's HEAD to `branch` through the git server, as its user."""
    try:
        git("push", "--quiet", "origin", f"HEAD:refs/heads/{branch}", cwd=work,
            env_extra=auth)
    except GitError as exc:
        raise SandboxError(f"the push of {branch} was refused: {_remote_said(exc)}"
                           ) from None


def _remote_said(exc: GitError) -> str:
    """The server's reason (its `remote:` lines), or git's own last words."""
    said = [ln.removeprefix("remote:").strip() for ln in exc.stderr.splitlines()
            if ln.startswith("remote:") and ln.removeprefix("remote:").strip()]
    return " ".join(said) if said else (exc.stderr.splitlines() or [""])[-1]
