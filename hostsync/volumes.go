package hostsync

import (
	"fmt"

	"github.com/metalk8s/mk8s/hostsync/resource"
	"github.com/metalk8s/mk8s/hostsync/volume"
	"github.com/metalk8s/mk8s/schema"
)

// VolumeRender renders, for each node, the resources that prepare the Volumes placed on
// it (volume.Prepare), in the order given; a node without Volumes gets none.
func VolumeRender(specs ...volume.Spec) RenderFunc {
	return volumeRender(volume.Prepare, specs)
}

// VolumeReleaseRender is VolumeRender for Volumes being released (volume.Release).
func VolumeReleaseRender(specs ...volume.Spec) RenderFunc {
	return volumeRender(volume.Release, specs)
}

func volumeRender(f func(volume.Spec) ([]resource.Resource, error), specs []volume.Spec) RenderFunc {
	return func(_ *schema.Site, node string) ([]resource.Resource, error) {
		var out []resource.Resource
		for _, s := range specs {
			if s.Node != node {
				continue
			}
			rs, err := f(s)
			if err != nil {
				return nil, fmt.Errorf("node %s: %w", node, err)
			}
			out = append(out, rs...)
		}
		return out, nil
	}
}
