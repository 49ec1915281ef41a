#!/usr/bin/env bash
# Source benchmarks (BENCHMARKS.md, "Source"): fetch + verify of 1,000 new signed commits
# (OpenPGP and SSH alternately) over git://, and a no-change poll, side by side with the
# real tools doing the same (git fetch + `git log --format=%G?`, which runs gpg and
# ssh-keygen per commit; and `git ls-remote`). Needs git, gpg, ssh-keygen.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local GOFLAGS=-mod=mod
pkg=./reconciler/source
run() { echo "+ go test $pkg -run '^\$' -bench '$1' -benchtime $2"; go test "$pkg" -count=1 -run '^$' -bench "$1" -benchtime "$2" | grep -E '^Benchmark'; }
out=$( { run 'SourceFetchVerify1000' 5x; run 'SourceNoChangePoll|GitLsRemote' 50x; run 'GitFetchVerify1000' 1x; } | tee /dev/stderr )
ns() { awk -v b="$1" '$1 ~ "^"b"(-[0-9]+)?$" {print $3}' <<<"$out"; }
mk_fv=$(ns BenchmarkSourceFetchVerify1000); git_fv=$(ns BenchmarkGitFetchVerify1000)
mk_p=$(ns BenchmarkSourceNoChangePoll); git_p=$(ns BenchmarkGitLsRemote)
printf '\n| measure | mk8s | git + gpg/ssh-keygen | ratio |\n|---|---|---|---|\n'
awk -v a="$mk_fv" -v b="$git_fv" 'BEGIN{printf "| fetch + verify 1,000 new commits | %.2f s | %.2f s | %.1f× |\n", a/1e9, b/1e9, b/a}'
awk -v a="$mk_p" -v b="$git_p" 'BEGIN{printf "| no-change poll (one ls-remote) | %.1f ms | %.1f ms | %.2f× |\n", a/1e6, b/1e6, b/a}'
