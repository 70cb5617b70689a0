"""Static HTML leaderboard rebuilt from result files: `ifir-bench leaderboard build` / `publish`."""
