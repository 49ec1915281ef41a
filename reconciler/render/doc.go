// Package render computes the desired Kubernetes objects of a validated site: v1 Nodes,
// the Volume CRD and Volumes, StorageClasses, the service-configuration ConfigMaps and
// their namespaces, Environment namespaces with their metalk8s-environment ConfigMaps,
// the objects of Solutions (the metalk8s-solutions ConfigMap, the CRDs of active
// versions, each environment's operators and their permissions, from the archives the
// reconciler opened: Options.Archives), and every manifests/ object as is, each
// carrying mk8s's ownership labels.
//
// Rendering is pure and deterministic: same site, same objects, same bytes. The
// encrypted credentials of service overrides (ENC[AGE,…]) are rendered as their
// plaintext through Options.Decrypt (the reconciler's age identity, reconciler/secrets),
// so that the same secret encrypted twice renders the same bytes. This package
// never talks to a cluster or a host; applying is reconciler/objects' job.
package render
