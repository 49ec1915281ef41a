#!/usr/bin/env bash
# mk8s-review.sh — the review step of a site repository's pipeline, for a pull request.
#
# Runs in the checkout of the pull request (with the base branch fetched: a shallow
# clone lacks it) and writes the plan of the change as a markdown comment. No cluster,
# no host and no key are needed: both revisions are read from git objects, validated
# and rendered, and what they render is compared (docs/review.md).
#
# Usage: mk8s-review.sh [BASE [HEAD]]
#   BASE  what the reconciler applies today (default: $MK8S_BASE, else origin/main)
#   HEAD  the revision under review (default: HEAD)
# Environment:
#   MK8S               the mk8s binary (default: mk8s on PATH)
#   MK8S_TRUST_CONFIG  the reconciler's configuration (reconciler.yaml) and the trust
#                      files it names: the commits of the range are checked against it,
#                      so a push the reconciler would refuse fails the review
#   MK8S_COMMENT       where the comment goes (default: mk8s-plan.md)
#   MK8S_JSON          where the plan as data goes (default: mk8s-plan.json)
#
# Exit status: 0 when the change is reviewable (with or without changes: the comment
# says which), 3 when the reconciler would refuse the push (an unsigned or untrusted
# commit, a rewind of the branch), 1 on error (an invalid revision: every error is
# printed with file and line).
set -uo pipefail

base=${1:-${MK8S_BASE:-origin/main}}
head=${2:-HEAD}
mk8s=${MK8S:-mk8s}
comment=${MK8S_COMMENT:-mk8s-plan.md}
json=${MK8S_JSON:-mk8s-plan.json}
args=(plan --repo . --from "$base" --to "$head" --exit-code)
if [ -n "${MK8S_TRUST_CONFIG:-}" ]; then
	args+=(--trust-config "$MK8S_TRUST_CONFIG")
fi

"$mk8s" "${args[@]}" -o json >"$json"
rc=$?
"$mk8s" "${args[@]}" -o markdown >"$comment"
case $rc in
0)
	echo "mk8s: $base..$head changes nothing on the cluster or the hosts ($comment)"
	;;
2)
	echo "mk8s: $base..$head has changes to review: $comment"
	rc=0
	;;
3)
	echo "mk8s: the reconciler would REFUSE $base..$head: see $comment" >&2
	;;
*)
	echo "mk8s: the review of $base..$head failed (exit $rc): see $comment" >&2
	rc=1
	;;
esac
exit $rc
