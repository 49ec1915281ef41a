package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/metalk8s/mk8s/reconciler/solution"
)

// newSolutionCmd groups the commands on MetalK8s Solution archives.
func newSolutionCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "solution",
		Short: "Read MetalK8s Solution archives",
		Long: `A Solution archive is an ISO-9660 image (Rock Ridge and Joliet) carrying manifest.yaml,
the Solution's container images, its operator's role.yaml and CRDs, and the registry
configuration serving the images (docs/solution-archives.md).`,
	}
	cmd.AddCommand(newSolutionInspectCmd(g))
	return cmd
}

// solutionInspection is what `solution inspect` prints.
type solutionInspection struct {
	Archive       string           `json:"archive"`
	Valid         bool             `json:"valid"`
	Error         *inspectionError `json:"error,omitempty"`
	Name          string           `json:"name,omitempty"`
	Version       string           `json:"version,omitempty"`
	DisplayName   string           `json:"displayName,omitempty"`
	ID            string           `json:"id,omitempty"`
	VolumeID      string           `json:"volumeID,omitempty"`
	Digest        string           `json:"digest,omitempty"`
	Images        []string         `json:"images,omitempty"`
	OperatorImage string           `json:"operatorImage,omitempty"`
	CRDs          []inspectedCRD   `json:"crds,omitempty"`
	Roles         []inspectedRole  `json:"roles,omitempty"`
	// RegistryConfig is the file the registry configuration comes from.
	RegistryConfig string `json:"registryConfig,omitempty"`
}

// inspectionError is an *solution.ArchiveError, field by field.
type inspectionError struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Object  string `json:"object,omitempty"`
	Field   string `json:"field,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message"`
}

type inspectedCRD struct {
	Name     string   `json:"name"`
	Group    string   `json:"group"`
	Kind     string   `json:"kind"`
	Scope    string   `json:"scope"`
	Versions []string `json:"versions"`
}

type inspectedRole struct {
	Kind  string              `json:"kind"`
	Name  string              `json:"name"`
	Rules []rbacv1.PolicyRule `json:"rules"`
}

func newSolutionInspectCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect ISO",
		Short: "Validate a Solution archive and print what it carries",
		Long: `inspect reads a Solution archive without mounting it, checks it as the reconciler does
before importing it (layout, manifest.yaml, images, role.yaml rules, CRDs, Rock Ridge and
Joliet) and prints its identity, images, CRDs and roles. An archive the reconciler would
refuse prints why and exits 1.`,
		Example: `  mk8s solution inspect /srv/solutions/example-solution-1.0.0.iso
  mk8s solution inspect example.iso -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			return runSolutionInspect(ctx, g, args[0])
		},
	}
}

func runSolutionInspect(ctx context.Context, g *globals, path string) error {
	g.logger().Info("reading solution archive", "archive", path)
	a, err := solution.Open(ctx, path)
	if err != nil {
		res := solutionInspection{Archive: path, Error: &inspectionError{Message: err.Error()}}
		var ae *solution.ArchiveError
		if errors.As(err, &ae) {
			res.Error.File, res.Error.Line, res.Error.Object, res.Error.Field, res.Error.Reason = ae.File, ae.Line, ae.Object, ae.Field, ae.Reason
		}
		// Text prints the error once, on stderr; JSON and YAML say it on stdout as well.
		if g.output != "text" {
			if perr := printData(g.stdout, g.output, res, nil); perr != nil {
				return perr
			}
		}
		return &exitError{code: exitCodeError, err: err}
	}
	res, err := inspection(a)
	if err != nil {
		return &exitError{code: exitCodeError, err: err}
	}
	return printData(g.stdout, g.output, res, func(w io.Writer) error { return printInspection(w, res) })
}

func inspection(a *solution.Archive) (solutionInspection, error) {
	res := solutionInspection{
		Archive: a.Path, Valid: true, Name: a.Name, Version: a.Version, DisplayName: a.DisplayName, ID: a.ID(),
		VolumeID: a.VolumeID, Digest: a.Digest, Images: a.Images,
		OperatorImage: a.OperatorImage.Name + ":" + a.OperatorImage.Tag, RegistryConfig: a.RegistryConfigFile,
	}
	for _, c := range a.CRDs {
		crd := inspectedCRD{Name: c.GetName()}
		crd.Group, _, _ = unstructured.NestedString(c.Object, "spec", "group")
		crd.Kind, _, _ = unstructured.NestedString(c.Object, "spec", "names", "kind")
		crd.Scope, _, _ = unstructured.NestedString(c.Object, "spec", "scope")
		versions, _, _ := unstructured.NestedSlice(c.Object, "spec", "versions")
		for _, v := range versions {
			if m, ok := v.(map[string]any); ok {
				crd.Versions = append(crd.Versions, fmt.Sprint(m["name"]))
			}
		}
		res.CRDs = append(res.CRDs, crd)
	}
	for _, r := range a.Roles {
		var cr rbacv1.ClusterRole
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(r.Object, &cr); err != nil {
			return res, fmt.Errorf("solution archive %s: %s %s: %w", a.Path, r.GetKind(), r.GetName(), err)
		}
		res.Roles = append(res.Roles, inspectedRole{Kind: r.GetKind(), Name: r.GetName(), Rules: cr.Rules})
	}
	return res, nil
}

func printInspection(w io.Writer, r solutionInspection) error {
	name := r.Name
	if r.DisplayName != r.Name {
		name += " (" + r.DisplayName + ")"
	}
	fmt.Fprintf(w, "Solution archive %s: valid\n", r.Archive)
	fmt.Fprintf(w, "  Name:            %s\n", name)
	fmt.Fprintf(w, "  Version:         %s\n", r.Version)
	fmt.Fprintf(w, "  ID:              %s\n", r.ID)
	fmt.Fprintf(w, "  Volume ID:       %s\n", r.VolumeID)
	fmt.Fprintf(w, "  Digest:          %s\n", r.Digest)
	fmt.Fprintf(w, "  Images:          %s\n", strings.Join(r.Images, ", "))
	fmt.Fprintf(w, "  Operator image:  %s\n", r.OperatorImage)
	fmt.Fprintf(w, "  Registry config: %s\n", r.RegistryConfig)
	fmt.Fprintf(w, "  CRDs:            %d\n", len(r.CRDs))
	for _, c := range r.CRDs {
		fmt.Fprintf(w, "    %s/%s  versions %s, %s\n", c.Group, c.Kind, strings.Join(c.Versions, ", "), c.Scope)
	}
	fmt.Fprintf(w, "  Roles:           %d\n", len(r.Roles))
	for _, role := range r.Roles {
		fmt.Fprintf(w, "    %s %s\n", role.Kind, role.Name)
		for _, rule := range role.Rules {
			fmt.Fprintf(w, "      %s\n", ruleText(rule))
		}
	}
	return nil
}

// ruleText is a rule on one line: apiGroups "" apps  resources pods, deployments  verbs get, list.
func ruleText(r rbacv1.PolicyRule) string {
	var parts []string
	if len(r.APIGroups) > 0 {
		groups := make([]string, len(r.APIGroups))
		for i, g := range r.APIGroups {
			groups[i] = g
			if g == "" {
				groups[i] = `""`
			}
		}
		parts = append(parts, "apiGroups: "+strings.Join(groups, ", "))
	}
	for _, l := range []struct {
		name string
		v    []string
	}{{"resources", r.Resources}, {"resourceNames", r.ResourceNames}, {"nonResourceURLs", r.NonResourceURLs}, {"verbs", r.Verbs}} {
		if len(l.v) > 0 {
			parts = append(parts, l.name+": "+strings.Join(l.v, ", "))
		}
	}
	return strings.Join(parts, "  ")
}
