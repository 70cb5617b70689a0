"""Put a built site somewhere a browser or GitHub Pages serves it: a directory, or a git branch.

The git route uses plain git plumbing on a local repository (a temporary index, `write-tree`,
`commit-tree`, `update-ref`), so the repository's work tree and current branch are untouched;
push the branch afterwards (`git push origin gh-pages`) and point GitHub Pages at it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from harness.errors import IfirError
from leaderboard.collect import SITE_MARKER

PAGES_FILES = ("CNAME", ".nojekyll")  # GitHub Pages' own files (custom domain, no Jekyll): a site does not replace them
KEEP = (".git", *PAGES_FILES)  # never deleted from a publish target (a checkout of the pages branch, say)


def _check_site(site: Path) -> Path:
    site = Path(site).resolve()
    if not (site / SITE_MARKER).is_file() or not (site / "index.html").is_file():
        raise IfirError(f"{site} is not a built leaderboard site (no {SITE_MARKER} / index.html); run `ifir-bench leaderboard build` first.")
    return site


def publish_dir(site: Path, target: Path) -> Path:
    """Replace the contents of `target` (kept: .git, CNAME, .nojekyll) with the site. Refuses a non-empty
    directory that is not a previously published site, so nothing else is overwritten."""
    site, target = _check_site(site), Path(target).resolve()
    if target == site or site in target.parents or target in site.parents:
        raise IfirError(f"--to {target} overlaps the site folder {site}.")
    if target.exists():
        if not target.is_dir():
            raise IfirError(f"--to {target} is a file, not a directory.")
        others = [p for p in target.iterdir() if p.name not in KEEP]
        if others and not (target / SITE_MARKER).is_file():
            raise IfirError(f"{target} is not empty and holds no published leaderboard ({SITE_MARKER}); give an empty or new directory.")
        for p in others:
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    shutil.copytree(site, target, dirs_exist_ok=True)
    return target


def _git(args: list[str], *, cwd: Path, env: dict | None = None, check: bool = True) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    except FileNotFoundError:
        raise IfirError("git is not installed; publish to a directory instead (--to DIR without --branch).") from None
    if check and out.returncode != 0:
        raise IfirError(f"git {' '.join(args)} failed in {cwd}: {out.stderr.strip() or out.stdout.strip()}")
    return out.stdout.strip() if out.returncode == 0 else ""


def publish_git(site: Path, repo: Path, *, branch: str = "gh-pages", message: str = "Update leaderboard") -> str:
    """Commit the site as the whole tree of `branch` in the local repository `repo` (the branch's CNAME
    and .nojekyll kept); returns the commit.

    The branch is created if missing; if the site is unchanged, the existing commit is returned.
    Refuses the branch that is checked out in `repo`, whose work tree would go stale.
    """
    site, repo = _check_site(site), Path(repo).resolve()
    if not repo.is_dir():
        raise IfirError(f"--to {repo}: no such directory; create the repository first (git init).")
    git_dir = _git(["rev-parse", "--absolute-git-dir"], cwd=repo)
    bare = _git(["rev-parse", "--is-bare-repository"], cwd=repo) == "true"
    _git(["check-ref-format", "--branch", branch], cwd=repo)
    ref = f"refs/heads/{branch}"
    if not bare and _git(["symbolic-ref", "-q", "HEAD"], cwd=repo, check=False) == ref:
        raise IfirError(f"branch '{branch}' is checked out in {repo}; switch to another branch first, or publish with --to DIR.")
    env = dict(os.environ)
    if not _git(["config", "user.name"], cwd=repo, check=False):
        for k in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
            env.setdefault(k, "ifir-bench leaderboard")
    if not _git(["config", "user.email"], cwd=repo, check=False):
        for k in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
            env.setdefault(k, "leaderboard@ifir-bench.invalid")
    with tempfile.TemporaryDirectory() as tmp:
        env.update(GIT_DIR=git_dir, GIT_WORK_TREE=str(site), GIT_INDEX_FILE=str(Path(tmp) / "index"))
        _git(["add", "--all", "--force", "."], cwd=site, env=env)
        parent = _git(["rev-parse", "-q", "--verify", f"{ref}^{{commit}}"], cwd=site, env=env, check=False)
        for name in PAGES_FILES if parent else ():  # the branch's CNAME stays unless the site brings its own
            entry = _git(["ls-tree", parent, "--", name], cwd=site, env=env)
            if entry and not (site / name).exists():
                mode, _, sha = entry.split("\t")[0].split()
                _git(["update-index", "--add", "--cacheinfo", f"{mode},{sha},{name}"], cwd=site, env=env)
        tree = _git(["write-tree"], cwd=site, env=env)
        if parent and _git(["rev-parse", f"{parent}^{{tree}}"], cwd=site, env=env) == tree:
            return parent
        commit = _git(["commit-tree", tree, "-m", message, *(["-p", parent] if parent else [])], cwd=site, env=env)
        _git(["update-ref", ref, commit, *([parent] if parent else [])], cwd=site, env=env)
    return commit
