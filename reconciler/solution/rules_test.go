package solution

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func TestCheckRules(t *testing.T) {
	own := []string{"example.metalk8s.scality.com"}
	cases := []struct {
		name string
		doc  string
		// want are the refusals, as "<field>: <start of reason>", in order; none is allowed.
		want []string
	}{
		{name: "read and write of namespaced workloads", doc: `kind: Role
rules:
- apiGroups: ["", apps]
  resources: [pods, configmaps, deployments, deployments/scale]
  verbs: [get, list, watch, create, update, patch, delete, deletecollection]`},
		{name: "all verbs on the own CRD group", doc: `kind: ClusterRole
rules:
- apiGroups: [example.metalk8s.scality.com]
  resources: [clocks, clocks/status]
  verbs: ["*"]`},
		{name: "reading RBAC objects", doc: `kind: ClusterRole
rules:
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings, clusterroles]
  verbs: [get, list, watch]`},
		{name: "non-resource URLs in a ClusterRole", doc: `kind: ClusterRole
rules:
- nonResourceURLs: [/metrics, /healthz]
  verbs: [get]`},
		{name: "no rules", doc: `kind: ClusterRole`},

		{name: "a Deployment", doc: "apiVersion: apps/v1\nkind: Deployment", want: []string{`kind: "Deployment" is not allowed: role.yaml may hold only Role and ClusterRole`}},
		{name: "a RoleBinding", doc: "kind: RoleBinding", want: []string{`kind: "RoleBinding" is not allowed`}},
		{name: "an old RBAC version", doc: "apiVersion: rbac.authorization.k8s.io/v1beta1\nkind: Role", want: []string{`apiVersion: "rbac.authorization.k8s.io/v1beta1" is not allowed: a Role must be rbac.authorization.k8s.io/v1`}},
		{name: "no name", doc: "kind: Role\nmetadata: {name: \"\"}", want: []string{"metadata.name: missing"}},
		{name: "escalate", doc: "kind: ClusterRole\nrules:\n- apiGroups: [rbac.authorization.k8s.io]\n  resources: [clusterroles]\n  verbs: [escalate]",
			want: []string{`rules[0].verbs: "escalate" is not allowed: a Solution operator may not escalate, bind or impersonate`}},
		{name: "bind", doc: "kind: Role\nrules:\n- apiGroups: [rbac.authorization.k8s.io]\n  resources: [roles]\n  verbs: [get, bind]",
			want: []string{`rules[0].verbs: "bind" is not allowed`}},
		{name: "impersonate", doc: "kind: ClusterRole\nrules:\n- apiGroups: [\"\"]\n  resources: [serviceaccounts]\n  verbs: [impersonate]",
			want: []string{`rules[0].verbs: "impersonate" is not allowed`}},
		{name: "verbs are matched whatever their case", doc: "kind: ClusterRole\nrules:\n- apiGroups: [\"\"]\n  resources: [users]\n  verbs: [Impersonate]",
			want: []string{`rules[0].verbs: "Impersonate" is not allowed`}},
		{name: "any group", doc: "kind: Role\nrules:\n- apiGroups: [\"*\"]\n  resources: [pods]\n  verbs: [get]",
			want: []string{`rules[0].apiGroups: "*" is not allowed`}},
		{name: "any resource", doc: "kind: Role\nrules:\n- apiGroups: [\"\"]\n  resources: [\"*\"]\n  verbs: [get]",
			want: []string{`rules[0].resources: "*" is not allowed`}},
		{name: "any subresource", doc: "kind: Role\nrules:\n- apiGroups: [\"\"]\n  resources: [\"*/status\"]\n  verbs: [get]",
			want: []string{`rules[0].resources: "*/status" is not allowed`}},
		{name: "any URL", doc: "kind: ClusterRole\nrules:\n- nonResourceURLs: [\"/apis/*\"]\n  verbs: [get]",
			want: []string{`rules[0].nonResourceURLs: "/apis/*" is not allowed`}},
		{name: "URLs in a Role", doc: "kind: Role\nrules:\n- nonResourceURLs: [/metrics]\n  verbs: [get]",
			want: []string{"rules[0].nonResourceURLs: is not allowed in a Role"}},
		{name: "all verbs on a core resource", doc: "kind: Role\nrules:\n- apiGroups: [\"\"]\n  resources: [secrets]\n  verbs: [\"*\"]",
			want: []string{`rules[0].verbs: "*" is not allowed on API group "": all verbs only on the resources of the Solution's own CRD groups (example.metalk8s.scality.com)`}},
		{name: "all verbs on the own group and another", doc: "kind: Role\nrules:\n- apiGroups: [example.metalk8s.scality.com, apps]\n  resources: [clocks, deployments]\n  verbs: [\"*\"]",
			want: []string{`rules[0].verbs: "*" is not allowed on API group "apps"`}},
		{name: "all verbs on URLs", doc: "kind: ClusterRole\nrules:\n- nonResourceURLs: [/metrics]\n  verbs: [\"*\"]",
			want: []string{`rules[0].verbs: "*" is not allowed on non-resource URLs`}},
		{name: "writing roles", doc: "kind: ClusterRole\nrules:\n- apiGroups: [rbac.authorization.k8s.io]\n  resources: [clusterrolebindings]\n  verbs: [get, create, patch]",
			want: []string{`rules[0].verbs: "create" is not allowed on rbac.authorization.k8s.io resources`, `rules[0].verbs: "patch" is not allowed on rbac.authorization.k8s.io`}},
		{name: "deleting role bindings", doc: "kind: Role\nrules:\n- apiGroups: [rbac.authorization.k8s.io]\n  resources: [rolebindings]\n  verbs: [deletecollection]",
			want: []string{`rules[0].verbs: "deletecollection" is not allowed on rbac.authorization.k8s.io`}},
		{name: "an aggregated ClusterRole", doc: "kind: ClusterRole\naggregationRule:\n  clusterRoleSelectors: [{matchLabels: {a: b}}]",
			want: []string{"aggregationRule: is not allowed: an aggregated ClusterRole"}},
		{name: "aggregated into admin", doc: "kind: ClusterRole\nmetadata:\n  name: op\n  labels:\n    rbac.authorization.k8s.io/aggregate-to-admin: \"true\"\n    app: x",
			want: []string{"metadata.labels.rbac.authorization.k8s.io/aggregate-to-admin: is not allowed: it aggregates the role's rules"}},
		{name: "a finalizer and an owner", doc: "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: op\n  finalizers: [example.com/keep]\n  ownerReferences: [{apiVersion: v1, kind: ConfigMap, name: x, uid: \"1\"}]",
			want: []string{"metadata.finalizers: is not allowed: mk8s owns the lifecycle", "metadata.ownerReferences: is not allowed: mk8s owns the lifecycle"}},
		{name: "rules not a list", doc: "kind: Role\nrules: {verbs: [get]}", want: []string{"rules: must be a list of rules, not a mapping"}},
		{name: "verbs not a list", doc: "kind: Role\nrules:\n- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: get",
			want: []string{"rules[0].verbs: must be a list of strings, not a string"}},
		// What the API server would refuse, refused before anything of the archive is applied.
		{name: "a rule without verbs", doc: "kind: Role\nrules:\n- apiGroups: [\"\"]\n  resources: [pods]",
			want: []string{"rules[0].verbs: missing: a rule grants at least one verb"}},
		{name: "a rule without API groups", doc: "kind: Role\nrules:\n- resources: [pods]\n  verbs: [get]",
			want: []string{"rules[0].apiGroups: missing: a rule on resources names their API groups"}},
		{name: "a rule without resources", doc: "kind: ClusterRole\nrules:\n- apiGroups: [\"\"]\n  verbs: [get]",
			want: []string{"rules[0].resources: missing: a rule on resources names at least one resource"}},
		{name: "resources and URLs in one rule", doc: "kind: ClusterRole\nrules:\n- apiGroups: [\"\"]\n  resources: [pods]\n  nonResourceURLs: [/metrics]\n  verbs: [get]",
			want: []string{"rules[0].nonResourceURLs: a rule is about resources or about non-resource URLs, not both"}},
		{name: "a name with a slash", doc: "kind: Role\nmetadata: {name: a/b}",
			want: []string{`metadata.name: "a/b" is not a valid name: may not contain '/'`}},
		{name: "a label value the API server refuses", doc: "kind: Role\nmetadata: {name: op, labels: {version: 1.0.0+b, app: op}}",
			want: []string{`metadata.labels.version: Invalid value: "1.0.0+b"`}},
		{name: "a label that is not a string", doc: "kind: ClusterRole\nmetadata: {name: op, labels: {replicas: 1}}",
			want: []string{"metadata.labels.replicas: must be a string, not a number"}},
		{name: "an annotation key the API server refuses", doc: "kind: ClusterRole\nmetadata: {name: op, annotations: {\"a b\": x}}",
			want: []string{`metadata.annotations.a b: Invalid value: "a b"`}},

		// The verb "*" on the group "*" is said once, for the group.
		{name: "every refusal of a document, in order", doc: `kind: ClusterRole
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get]
- apiGroups: ["*"]
  resources: ["*"]
  verbs: [escalate, "*"]`, want: []string{`rules[1].verbs: "escalate"`, `rules[1].apiGroups: "*"`, `rules[1].resources: "*"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := c.doc
			if !strings.Contains(doc, "apiVersion:") {
				doc = "apiVersion: rbac.authorization.k8s.io/v1\n" + doc
			}
			if !strings.Contains(doc, "metadata:") {
				doc += "\nmetadata: {name: op}"
			}
			var u unstructured.Unstructured
			if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
				t.Fatal(err)
			}
			got := CheckRules(&u, own)
			if len(got) != len(c.want) {
				t.Fatalf("got %d refusals, want %d: %v", len(got), len(c.want), got)
			}
			for i, w := range c.want {
				field, reason, _ := strings.Cut(w, ": ")
				if got[i].Field != field || !strings.HasPrefix(got[i].Reason, reason) {
					t.Errorf("refusal %d = %s: %s, want %s", i, got[i].Field, got[i].Reason, w)
				}
				if !strings.HasPrefix(got[i].Error(), strings.TrimSpace(u.GetKind()+" "+u.GetName())+": "+field+": ") {
					t.Errorf("refusal %d does not name the document and field: %v", i, got[i])
				}
			}
		})
	}
}
