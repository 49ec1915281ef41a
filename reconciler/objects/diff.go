package objects

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/metalk8s/mk8s/reconciler/render"
)

// Redacted replaces secret values in diffs and plans.
const Redacted = "***"

// forDiff returns a copy of an object without what only the server manages
// (managedFields, resourceVersion, uid, timestamps, generation, status): a plan shows
// configuration, not bookkeeping.
func forDiff(u *unstructured.Unstructured) *unstructured.Unstructured {
	if u == nil {
		return nil
	}
	c := u.DeepCopy()
	for _, f := range []string{"managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "selfLink"} {
		unstructured.RemoveNestedField(c.Object, "metadata", f)
	}
	unstructured.RemoveNestedField(c.Object, "status")
	return c
}

// redactSecrets masks the values of Secret data and stringData on both sides, keeping
// whether each value changed visible ("*** (before)" / "*** (after)"), never the value.
func redactSecrets(before, after *unstructured.Unstructured) {
	isSecret := func(u *unstructured.Unstructured) bool {
		return u != nil && u.GetKind() == "Secret" && u.GroupVersionKind().Group == ""
	}
	if !isSecret(before) && !isSecret(after) {
		return
	}
	for _, field := range []string{"data", "stringData"} {
		var b, a map[string]any
		if before != nil {
			b, _, _ = unstructured.NestedMap(before.Object, field)
		}
		if after != nil {
			a, _, _ = unstructured.NestedMap(after.Object, field)
		}
		for k := range b {
			if av, ok := a[k]; ok && fmt.Sprint(av) != fmt.Sprint(b[k]) {
				b[k], a[k] = Redacted+" (before)", Redacted+" (after)"
			} else {
				b[k] = Redacted
				if ok {
					a[k] = Redacted
				}
			}
		}
		for k := range a {
			if _, ok := b[k]; !ok {
				a[k] = Redacted
			}
		}
		if before != nil && b != nil {
			_ = unstructured.SetNestedMap(before.Object, b, field)
		}
		if after != nil && a != nil {
			_ = unstructured.SetNestedMap(after.Object, a, field)
		}
	}
	// The last-applied annotation of kubectl would carry the clear values.
	for _, u := range []*unstructured.Unstructured{before, after} {
		if u == nil {
			continue
		}
		ann := u.GetAnnotations()
		if _, ok := ann["kubectl.kubernetes.io/last-applied-configuration"]; ok {
			ann = maps.Clone(ann)
			ann["kubectl.kubernetes.io/last-applied-configuration"] = Redacted
			u.SetAnnotations(ann)
		}
	}
}

// unifiedDiff renders before → after as a unified diff of their YAML (nil is absent).
// Secrets are redacted first.
func unifiedDiff(name string, before, after *unstructured.Unstructured) (string, error) {
	return diffLabelled(name, before, after, "live/", "desired/")
}

// diffLabelled is unifiedDiff with the two sides named fromLabel+name and toLabel+name.
func diffLabelled(name string, before, after *unstructured.Unstructured, fromLabel, toLabel string) (string, error) {
	before, after = forDiff(before), forDiff(after)
	redactSecrets(before, after)
	redactServiceConfigs(before, after)
	a, err := toYAML(before)
	if err != nil {
		return "", err
	}
	b, err := toYAML(after)
	if err != nil {
		return "", err
	}
	from, to := fromLabel+name, toLabel+name
	if before == nil {
		from = "/dev/null"
	}
	if after == nil {
		to = "/dev/null"
	}
	return difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: splitLines(a), B: splitLines(b),
		FromFile: from, ToFile: to, Context: 3,
	})
}

func toYAML(u *unstructured.Unstructured) (string, error) {
	if u == nil {
		return "", nil
	}
	b, err := yaml.Marshal(u.Object)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// splitLines splits text into lines that keep their newline; empty text has none
// (difflib's SplitLines would give one empty line, shown as a spurious context line).
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	lines := strings.SplitAfter(s, "\n")
	return lines[:len(lines)-1]
}

// credentialKey matches the keys of service configurations that hold credentials
// (Dex static password hashes and client secrets, Alertmanager receiver passwords,
// API keys, and the Slack and webhook URLs that embed a token, which validate also
// counts as credentials), … Over-matching only hides a value from a diff.
var credentialKey = regexp.MustCompile(`(?i)(password|passwd|secret|token|hash|bindpw|credential|key$|webhook_url|api_url)`)

// redactServiceConfigs masks credential values inside the config.yaml of service
// configuration ConfigMaps (those carrying the effective-config digest), on both sides,
// keeping whether each value changed visible.
func redactServiceConfigs(before, after *unstructured.Unstructured) {
	isService := func(u *unstructured.Unstructured) bool {
		if u == nil || u.GetKind() != "ConfigMap" || u.GroupVersionKind().Group != "" {
			return false
		}
		_, ok := u.GetAnnotations()[render.AnnotationEffectiveConfigDigest]
		return ok
	}
	if !isService(before) && !isService(after) {
		return
	}
	read := func(u *unstructured.Unstructured) (any, bool) {
		if u == nil {
			return nil, false
		}
		s, ok, _ := unstructured.NestedString(u.Object, "data", render.ServiceConfigKey)
		if !ok {
			return nil, false
		}
		var doc any
		if err := yaml.Unmarshal([]byte(s), &doc); err != nil {
			// Not YAML: mask it whole rather than risk showing a credential.
			return Redacted + " (not valid YAML)", true
		}
		return doc, true
	}
	b, bok := read(before)
	a, aok := read(after)
	if holdsCredential(b) || holdsCredential(a) {
		// The digest covers the clear values: shown next to the rest of the
		// configuration (which the repository holds), it would let a weak password be
		// guessed offline. Whether it changed stays visible.
		redactAnnotation(before, after, render.AnnotationEffectiveConfigDigest)
	}
	b, a = redactPair(b, a, false)
	write := func(u *unstructured.Unstructured, doc any, ok bool) {
		if u == nil || !ok {
			return
		}
		if s, isString := doc.(string); isString {
			_ = unstructured.SetNestedField(u.Object, s, "data", render.ServiceConfigKey)
			return
		}
		y, err := yaml.Marshal(doc)
		if err != nil {
			y = []byte(Redacted)
		}
		_ = unstructured.SetNestedField(u.Object, string(y), "data", render.ServiceConfigKey)
	}
	write(before, b, bok)
	write(after, a, aok)
}

// holdsCredential reports whether a configuration document has a value under a
// credential key, or a URL with a password.
func holdsCredential(doc any) bool {
	switch x := doc.(type) {
	case map[string]any:
		for k, v := range x {
			if credentialKey.MatchString(k) && !isCollection(v) && v != nil {
				return true
			}
			if holdsCredential(v) {
				return true
			}
		}
	case []any:
		for _, v := range x {
			if holdsCredential(v) {
				return true
			}
		}
	case string:
		return redactURLPassword(x, "") != x
	}
	return false
}

// redactAnnotation masks an annotation on both sides, keeping whether it changed.
func redactAnnotation(before, after *unstructured.Unstructured, key string) {
	value := func(u *unstructured.Unstructured) (string, bool) {
		if u == nil {
			return "", false
		}
		v, ok := u.GetAnnotations()[key]
		return v, ok
	}
	bv, bok := value(before)
	av, aok := value(after)
	mask := func(u *unstructured.Unstructured, ok bool, note string) {
		if !ok {
			return
		}
		ann := maps.Clone(u.GetAnnotations())
		ann[key] = Redacted + note
		u.SetAnnotations(ann)
	}
	if bok && aok && bv != av {
		mask(before, bok, " (before)")
		mask(after, aok, " (after)")
		return
	}
	mask(before, bok, "")
	mask(after, aok, "")
}

// redactPair walks two versions of a document in parallel and masks the scalar values
// under credential keys (secret says the key of this value is one).
func redactPair(b, a any, secret bool) (any, any) {
	if secret && !isCollection(b) && !isCollection(a) {
		switch {
		case b != nil && a != nil && fmt.Sprint(b) != fmt.Sprint(a):
			return Redacted + " (before)", Redacted + " (after)"
		case b != nil && a != nil:
			return Redacted, Redacted
		case b != nil:
			return Redacted, nil
		case a != nil:
			return nil, Redacted
		}
		return nil, nil
	}
	bm, bIsMap := b.(map[string]any)
	am, aIsMap := a.(map[string]any)
	bl, bIsList := b.([]any)
	al, aIsList := a.([]any)
	if b != nil && a != nil && (bIsMap != aIsMap || bIsList != aIsList) {
		// Different shapes: redact each side on its own.
		nb, _ := redactPair(b, nil, false)
		_, na := redactPair(nil, a, false)
		return nb, na
	}
	switch {
	case bIsMap || aIsMap:
		outB, outA := map[string]any{}, map[string]any{}
		keys := map[string]bool{}
		for k := range bm {
			keys[k] = true
		}
		for k := range am {
			keys[k] = true
		}
		for k := range keys {
			nb, na := redactPair(bm[k], am[k], credentialKey.MatchString(k))
			if _, ok := bm[k]; ok {
				outB[k] = nb
			}
			if _, ok := am[k]; ok {
				outA[k] = na
			}
		}
		return mapOrNil(outB, bIsMap), mapOrNil(outA, aIsMap)
	case bIsList || aIsList:
		outB, outA := make([]any, len(bl)), make([]any, len(al))
		for i := range max(len(bl), len(al)) {
			var x, y any
			if i < len(bl) {
				x = bl[i]
			}
			if i < len(al) {
				y = al[i]
			}
			nx, ny := redactPair(x, y, false)
			if i < len(bl) {
				outB[i] = nx
			}
			if i < len(al) {
				outA[i] = ny
			}
		}
		return listOrNil(outB, bIsList), listOrNil(outA, aIsList)
	}
	rb, ra := redactURLPassword(b, ""), redactURLPassword(a, "")
	if rb == ra && fmt.Sprint(b) != fmt.Sprint(a) {
		// Only the password changed: say so, as for other credentials.
		rb, ra = redactURLPassword(b, " (before)"), redactURLPassword(a, " (after)")
	}
	return rb, ra
}

// isCollection: a credential key over a map or list (staticPasswords) is searched
// further rather than masked whole, so that the rest of the entries stay readable.
func isCollection(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return true
	}
	return false
}

func mapOrNil(m map[string]any, was bool) any {
	if !was {
		return nil
	}
	return m
}

func listOrNil(l []any, was bool) any {
	if !was {
		return nil
	}
	return l
}

// redactURLPassword masks the password of a URL value (https://user:password@host/…,
// as in an Alertmanager webhook url), whatever its key is called; note follows the mask.
func redactURLPassword(v any, note string) any {
	s, ok := v.(string)
	if !ok || !strings.Contains(s, "://") || !strings.Contains(s, "@") {
		return v
	}
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return v
	}
	if _, set := u.User.Password(); !set {
		return v
	}
	user := url.User(u.User.Username()).String()
	u.User = url.User(u.User.Username())
	return strings.Replace(u.String(), "://"+user+"@", "://"+user+":"+Redacted+note+"@", 1)
}
