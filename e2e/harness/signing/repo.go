package signing

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Repo is a working repository driven by the real git CLI with an isolated HOME.
type Repo struct {
	Dir  string
	home string
	t    testing.TB
}

// NewRepo initialises a repository in dir (created), on branch main.
func NewRepo(t testing.TB, dir string) *Repo {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	r := &Repo{Dir: dir, home: home, t: t}
	r.Git("init", "-q", "-b", "main")
	return r
}

func (r *Repo) baseEnv() []string {
	return []string{"HOME=" + r.home, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Site Editor", "GIT_COMMITTER_NAME=Site Editor"}
}

// Git runs git in the repository and returns its stdout.
func (r *Repo) Git(args ...string) string {
	r.t.Helper()
	return run(r.t, r.Dir, r.baseEnv(), "git", args...)
}

// CommitOptions shapes one commit.
type CommitOptions struct {
	// Date is the author and committer date; now when zero.
	Date time.Time
	// Email overrides the committer email (default: the signer's, or unsigned@example.invalid).
	Email string
}

// Commit writes files (path → content), stages everything and commits, signed by signer
// (nil: unsigned). It returns the new commit's hash.
func (r *Repo) Commit(signer Signer, msg string, files map[string]string, opts ...CommitOptions) string {
	r.t.Helper()
	var o CommitOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	for p, content := range files {
		full := filepath.Join(r.Dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	r.Git("add", "-A")
	env := r.baseEnv()
	email := "unsigned@example.invalid"
	var args []string
	if signer != nil {
		email = signer.Email()
		env = append(env, signer.env()...)
		args = append(args, signer.gitArgs()...)
	}
	if o.Email != "" {
		email = o.Email
	}
	env = append(env, "GIT_AUTHOR_EMAIL="+email, "GIT_COMMITTER_EMAIL="+email)
	if !o.Date.IsZero() {
		d := o.Date.Format(time.RFC3339)
		env = append(env, "GIT_AUTHOR_DATE="+d, "GIT_COMMITTER_DATE="+d)
	}
	args = append(args, "commit", "-q", "--allow-empty", "-m", msg)
	if signer != nil {
		args = append(args, "-S")
	}
	run(r.t, r.Dir, env, "git", args...)
	return r.Head()
}

// Merge merges branch into the current branch with a signed merge commit.
func (r *Repo) Merge(signer Signer, branch, msg string) string {
	r.t.Helper()
	env := append(r.baseEnv(), signer.env()...)
	env = append(env, "GIT_AUTHOR_EMAIL="+signer.Email(), "GIT_COMMITTER_EMAIL="+signer.Email())
	args := append(signer.gitArgs(), "merge", "-q", "--no-ff", "-S", "-m", msg, branch)
	run(r.t, r.Dir, env, "git", args...)
	return r.Head()
}

// Head is the hash of HEAD.
func (r *Repo) Head() string { return strings.TrimSpace(r.Git("rev-parse", "HEAD")) }

// Tamper writes a copy of commit whose message is changed but whose signature header is
// kept, and returns the new object's hash: a signature that no longer matches.
func (r *Repo) Tamper(commit, newMessage string) string {
	r.t.Helper()
	raw := r.Git("cat-file", "commit", commit)
	head, _, ok := strings.Cut(raw, "\n\n")
	if !ok {
		r.t.Fatalf("commit %s has no message", commit)
	}
	if !strings.Contains(head, "\ngpgsig ") {
		r.t.Fatalf("commit %s is not signed", commit)
	}
	tampered := head + "\n\n" + newMessage + "\n"
	f := filepath.Join(r.t.TempDir(), "commit")
	if err := os.WriteFile(f, []byte(tampered), 0o644); err != nil {
		r.t.Fatal(err)
	}
	return strings.TrimSpace(r.Git("hash-object", "-w", "-t", "commit", f))
}

// PushTo pushes refspec to a bare repository path (or URL), forcing when force is set.
func (r *Repo) PushTo(dest, refspec string, force bool) {
	r.t.Helper()
	args := []string{"push", "-q"}
	if force {
		args = append(args, "--force")
	}
	r.Git(append(args, dest, refspec)...)
}

// NewBare initialises a bare repository at dir, with HEAD on main.
func NewBare(t testing.TB, dir string) string {
	t.Helper()
	run(t, "", nil, "git", "init", "-q", "--bare", "-b", "main", dir)
	return dir
}

// String helps messages.
func (r *Repo) String() string { return fmt.Sprintf("repo %s", r.Dir) }
