package render

// Ownership labels and annotations every rendered object carries. The labels tell mk8s
// (and kubectl users) which objects it created: prune only ever deletes objects that
// still carry them.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedByValue = "mk8s"
	LabelSite      = "mk8s.metalk8s.scality.com/site"

	// AnnotationEffectiveConfigDigest carries the digest of a service's merged effective
	// configuration, so that a change of platform defaults or of the override shows on
	// the ConfigMap and restarts what depends on it.
	AnnotationEffectiveConfigDigest = "mk8s.metalk8s.scality.com/effective-config-digest"

	// AnnotationRecreate lets an object opt in to being deleted and recreated when a
	// change touches an immutable field.
	AnnotationRecreate = "mk8s.metalk8s.scality.com/recreate"

	// EnvironmentConfigMap is the ConfigMap of an Environment namespace listing its
	// solutions and their versions.
	EnvironmentConfigMap = "metalk8s-environment"

	// ServiceConfigKey is the data key of a service-configuration ConfigMap.
	ServiceConfigKey = "config.yaml"
)

// OwnershipLabels returns the labels that mark an object as created by mk8s for a site.
func OwnershipLabels(site string) map[string]string {
	return map[string]string{LabelManagedBy: ManagedByValue, LabelSite: site}
}
