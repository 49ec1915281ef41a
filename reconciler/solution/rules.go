package solution

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// RBAC names the rules refer to.
const (
	rbacGroup      = "rbac.authorization.k8s.io"
	rbacAPIVersion = rbacGroup + "/v1"
)

// aggregateLabelPrefix starts the labels by which a ClusterRole's rules are aggregated
// into other ClusterRoles (rbac.authorization.k8s.io/aggregate-to-admin, …).
const aggregateLabelPrefix = rbacGroup + "/aggregate-to-"

// writeVerbs are the verbs that change an object; "*" includes them.
var writeVerbs = []string{"create", "update", "patch", "delete", "deletecollection", "*"}

// RuleError is one thing a role.yaml document asks for that a Solution operator may not
// have (see CheckRules).
type RuleError struct {
	// Object is the document: "<kind> <name>".
	Object string
	// Field is the dotted path of the field (`rules[1].verbs`).
	Field string
	// Reason says what is refused and the rule it breaks.
	Reason string
	// at is Field as path elements, for the line of the field in the file.
	at []any
}

func (e *RuleError) Error() string {
	return fmt.Sprintf("%s: %s: %s", e.Object, e.Field, e.Reason)
}

// CheckRules checks one document of a Solution's operator/deploy/role.yaml and returns
// everything it asks for that a Solution operator may not have, in document order; none
// means the document is allowed. ownGroups are the API groups of the archive's own CRDs.
//
// The document must be an rbac.authorization.k8s.io/v1 Role or ClusterRole, named,
// without aggregationRule (an aggregated ClusterRole takes the rules of other
// ClusterRoles), without rbac.authorization.k8s.io/aggregate-to-* labels (which give its
// rules to the holders of other ClusterRoles), finalizers or ownerReferences. Its rules must not use the verbs escalate, bind or impersonate, nor "*"
// in apiGroups, resources or nonResourceURLs; the verb "*" only on the archive's own CRD
// groups; no write verb on rbac.authorization.k8s.io resources; no nonResourceURLs in a
// Role. These keep an operator from granting itself, or anyone, more than role.yaml says.
// What the API server would refuse is refused too (a name with '/', a label it does not
// take, a rule without verbs, API groups or resources, or with both resources and
// non-resource URLs), so that such an archive is refused before anything is applied.
func CheckRules(doc *unstructured.Unstructured, ownGroups []string) []*RuleError {
	kind, name := doc.GetKind(), doc.GetName()
	object := strings.TrimSpace(kind + " " + name)
	var errs []*RuleError
	refuse := func(field string, at []any, format string, args ...any) {
		errs = append(errs, &RuleError{Object: object, Field: field, Reason: fmt.Sprintf(format, args...), at: at})
	}
	if kind != "Role" && kind != "ClusterRole" {
		refuse("kind", []any{"kind"}, "%q is not allowed: role.yaml may hold only Role and ClusterRole documents", kind)
		return errs
	}
	if doc.GetAPIVersion() != rbacAPIVersion {
		refuse("apiVersion", []any{"apiVersion"}, "%q is not allowed: a %s must be %s", doc.GetAPIVersion(), kind, rbacAPIVersion)
	}
	if name == "" {
		refuse("metadata.name", []any{"metadata"}, "missing: every Role and ClusterRole needs a name")
	}
	for _, msg := range path.IsValidPathSegmentName(name) {
		refuse("metadata.name", []any{"metadata", "name"}, "%q is not a valid name: %s", name, msg)
	}
	checkMetadata(doc, refuse)
	for _, k := range slices.Sorted(maps.Keys(doc.GetLabels())) {
		if strings.HasPrefix(k, aggregateLabelPrefix) {
			refuse("metadata.labels."+k, []any{"metadata", "labels", k},
				"is not allowed: it aggregates the role's rules into other ClusterRoles (admin, edit, view…), granting them to whoever holds those")
		}
	}
	for _, f := range []string{"finalizers", "ownerReferences"} {
		if _, ok := doc.Object["metadata"].(map[string]any)[f]; ok {
			refuse("metadata."+f, []any{"metadata", f},
				"is not allowed: mk8s owns the lifecycle of the Solution's roles (a finalizer would keep one for ever, an owner could have it deleted)")
		}
	}
	if _, ok := doc.Object["aggregationRule"]; ok {
		refuse("aggregationRule", []any{"aggregationRule"}, "is not allowed: an aggregated ClusterRole takes the rules of other ClusterRoles, beyond what role.yaml says")
	}
	raw, ok := doc.Object["rules"]
	if !ok || raw == nil {
		return errs
	}
	rules, ok := raw.([]any)
	if !ok {
		refuse("rules", []any{"rules"}, "must be a list of rules, not %s", kindOf(raw))
		return errs
	}
	for i, r := range rules {
		base := fmt.Sprintf("rules[%d]", i)
		rule, ok := r.(map[string]any)
		if !ok {
			refuse(base, []any{"rules", i}, "must be a rule (a mapping), not %s", kindOf(r))
			continue
		}
		lists := map[string][]string{}
		bad := false
		for _, key := range []string{"verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs"} {
			l, err := stringList(rule[key])
			if err != nil {
				refuse(base+"."+key, []any{"rules", i, key}, "%v", err)
				bad = true
			}
			lists[key] = l
		}
		if bad {
			continue
		}
		field := func(key string) (string, []any) { return base + "." + key, []any{"rules", i, key} }
		// What the API server requires of a rule (ValidatePolicyRule): refused here, not
		// once the objects of the archive are half applied.
		if len(lists["verbs"]) == 0 {
			f, at := field("verbs")
			refuse(f, at, "missing: a rule grants at least one verb")
		}
		if len(lists["nonResourceURLs"]) > 0 {
			if len(lists["apiGroups"])+len(lists["resources"])+len(lists["resourceNames"]) > 0 {
				f, at := field("nonResourceURLs")
				refuse(f, at, "a rule is about resources or about non-resource URLs, not both")
			}
		} else {
			if len(lists["apiGroups"]) == 0 {
				f, at := field("apiGroups")
				refuse(f, at, `missing: a rule on resources names their API groups ("" for the core group)`)
			}
			if len(lists["resources"]) == 0 {
				f, at := field("resources")
				refuse(f, at, "missing: a rule on resources names at least one resource")
			}
		}
		for _, v := range lists["verbs"] {
			switch strings.ToLower(v) {
			case "escalate", "bind", "impersonate":
				f, at := field("verbs")
				refuse(f, at, "%q is not allowed: a Solution operator may not escalate, bind or impersonate", v)
			}
		}
		if slices.Contains(lists["apiGroups"], "*") {
			f, at := field("apiGroups")
			refuse(f, at, `"*" is not allowed: a Solution operator names the API groups it uses`)
		}
		for _, res := range lists["resources"] {
			if strings.Contains(res, "*") {
				f, at := field("resources")
				refuse(f, at, "%q is not allowed: a Solution operator names the resources it uses", res)
			}
		}
		if len(lists["nonResourceURLs"]) > 0 && kind == "Role" {
			f, at := field("nonResourceURLs")
			refuse(f, at, "is not allowed in a Role: non-resource URLs are cluster-wide (use a ClusterRole)")
		}
		for _, u := range lists["nonResourceURLs"] {
			if strings.Contains(u, "*") {
				f, at := field("nonResourceURLs")
				refuse(f, at, "%q is not allowed: a Solution operator names the URLs it uses", u)
			}
		}
		if slices.Contains(lists["verbs"], "*") {
			var foreign []string
			for _, g := range lists["apiGroups"] {
				if !slices.Contains(ownGroups, g) && g != "*" {
					foreign = append(foreign, fmt.Sprintf("%q", g))
				}
			}
			if len(lists["apiGroups"]) == 0 || len(foreign) > 0 {
				f, at := field("verbs")
				where := "non-resource URLs"
				if len(foreign) > 0 {
					where = "API group " + strings.Join(foreign, ", ")
				}
				refuse(f, at, `"*" is not allowed on %s: all verbs only on the resources of the Solution's own CRD groups (%s)`,
					where, groupList(ownGroups))
			}
		}
		if slices.Contains(lists["apiGroups"], rbacGroup) {
			for _, v := range lists["verbs"] {
				if slices.Contains(writeVerbs, strings.ToLower(v)) {
					f, at := field("verbs")
					refuse(f, at, "%q is not allowed on %s resources: a Solution operator may read roles and bindings, not write them", v, rbacGroup)
				}
			}
		}
	}
	return errs
}

// checkMetadata refuses the labels and annotations of a document that the API server
// would refuse: the archive's own are kept on the objects mk8s deploys.
func checkMetadata(doc *unstructured.Unstructured, refuse func(field string, at []any, format string, args ...any)) {
	for _, key := range []string{"labels", "annotations"} {
		raw, found, _ := unstructured.NestedFieldNoCopy(doc.Object, "metadata", key)
		if !found || raw == nil {
			continue
		}
		m, ok := raw.(map[string]any)
		if !ok {
			refuse("metadata."+key, []any{"metadata", key}, "must be a mapping of strings, not %s", kindOf(raw))
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			name, at := "metadata."+key+"."+k, []any{"metadata", key, k}
			v, ok := m[k].(string)
			if !ok {
				refuse(name, at, "must be a string, not %s", kindOf(m[k]))
				continue
			}
			var errs field.ErrorList
			if key == "labels" {
				errs = metav1validation.ValidateLabels(map[string]string{k: v}, field.NewPath("metadata", key))
			} else {
				errs = apivalidation.ValidateAnnotations(map[string]string{k: v}, field.NewPath("metadata", key))
			}
			for _, e := range errs {
				refuse(name, at, "%s", e.ErrorBody())
			}
		}
	}
}

// stringList reads a rule's list of strings; absent is empty.
func stringList(v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("must be a list of strings, not %s", kindOf(v))
	}
	out := make([]string, 0, len(l))
	for j, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("item %d must be a string, not %s", j, kindOf(e))
		}
		out = append(out, s)
	}
	return out, nil
}

func groupList(groups []string) string {
	if len(groups) == 0 {
		return "none: the archive has no CRD"
	}
	return strings.Join(groups, ", ")
}
