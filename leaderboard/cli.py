"""`ifir-bench leaderboard build | publish`: a thin click shell over leaderboard.render and leaderboard.publish."""

from __future__ import annotations

from pathlib import Path

import click

from harness.console import console, warning as warn


@click.group("leaderboard")
def leaderboard():
    """Static HTML leaderboard built from result files (offline, deterministic)."""


@leaderboard.command("build")
@click.argument("results", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--out", type=click.Path(path_type=Path), default=Path("site"), show_default=True, help="Site directory to write.")
@click.option("--baseline", default=None, help="Model preselected as the baseline of the significance view (name or name@revision).")
@click.option("--with-runs", is_flag=True, help="Also publish each result's TREC run, gzipped (left out by default: a SciFact run is about 20 MB).")
def build(results, out, baseline, with_runs):
    """Build a self-contained static site from every result file under RESULTS."""
    from leaderboard.render import build_site

    report = build_site(results, out, baseline=baseline, with_runs=with_runs)
    for warning in report.warnings:
        warn(warning)
    console.print(f"wrote {report.out / 'index.html'}: {report.n_models} rows, {report.n_results} result files, "
                  f"{report.n_runs} TREC run(s), {len(report.warnings)} warning(s).", highlight=False)


@leaderboard.command("publish")
@click.argument("site", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--to", "target", required=True, type=click.Path(path_type=Path), help="Directory to copy into, or a local git repository with --branch.")
@click.option("--branch", default=None, help="Commit the site to this branch of the git repository --to (e.g. gh-pages), without touching its work tree.")
@click.option("--message", default="Update leaderboard", show_default=True, help="Commit message (with --branch).")
def publish(site, target, branch, message):
    """Copy SITE to a directory, or commit it to a branch of a local git repository (for GitHub Pages)."""
    from leaderboard.publish import publish_dir, publish_git

    if branch:
        commit = publish_git(site, target, branch=branch, message=message)
        console.print(f"committed {site} to branch '{branch}' of {target} ({commit[:12]}); "
                      f"push it with: git -C {target} push origin {branch}", highlight=False)
    else:
        out = publish_dir(site, target)
        console.print(f"copied {site} to {out}", highlight=False)
