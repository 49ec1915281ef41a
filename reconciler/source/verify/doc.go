// Package verify decides whether commits may be applied: every commit must carry a valid
// signature by a key the operator trusts (OpenPGP armored public keys, or an SSH
// allowed_signers file with git's semantics), and a new head must descend from the last
// applied revision. Trust comes only from the reconciler's own configuration, never from
// the repository being verified.
//
// It owns signature checking and the walk of a commit range. It must not fetch, write
// refs, or record state: callers decide what a refusal means; a refusal is always a
// *RefusedError naming the commit, the reason and the key or signer involved.
// ReviewRange walks the same range for a pull-request reviewer and, instead of stopping
// at the first refusal, gives every commit its verdict.
package verify
