package solution

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ISO-9660 layout (ECMA-119): 16 sectors of system area, then volume descriptors of one
// 2048-byte sector each until the terminator.
const (
	descriptorSector = 2048
	firstDescriptor  = 16
	// maxDescriptors bounds the walk of a damaged descriptor set with no terminator.
	maxDescriptors = 64
	// maxContinuations bounds the SUSP continuation areas followed (a loop in a damaged
	// image must not hang Open).
	maxContinuations = 8
)

// volume is what an image's volume descriptors say, read from the file itself: go-diskfs
// reads Rock Ridge and Joliet when they are there but does not say whether they are.
type volume struct {
	// ID is the primary volume identifier, trailing spaces removed.
	ID string
	// BlockSize is the logical block size, Size the volume space size in bytes.
	BlockSize, Size int64
	// Joliet: a supplementary volume descriptor with a Joliet escape sequence.
	Joliet bool
	// RockRidge: the root directory record carries the SUSP indicator and RRIP entries.
	RockRidge bool
}

// readVolume reads the volume descriptors of the image r of fileSize bytes. Its errors
// say what is wrong with the image as a whole.
func readVolume(r io.ReaderAt, fileSize int64) (*volume, error) {
	if fileSize < (firstDescriptor+1)*descriptorSector {
		return nil, fmt.Errorf("not an ISO-9660 image, or truncated: %d bytes is too small to hold a volume descriptor at sector %d", fileSize, firstDescriptor)
	}
	var (
		v          volume
		primary    []byte
		terminated bool
	)
	for i := firstDescriptor; i < firstDescriptor+maxDescriptors && !terminated; i++ {
		d := make([]byte, descriptorSector)
		if _, err := r.ReadAt(d, int64(i)*descriptorSector); err != nil {
			return nil, fmt.Errorf("truncated image: volume descriptor at sector %d cannot be read: %w", i, err)
		}
		if string(d[1:6]) != "CD001" {
			if i == firstDescriptor {
				return nil, fmt.Errorf("not an ISO-9660 image: no CD001 volume descriptor at sector %d", firstDescriptor)
			}
			return nil, fmt.Errorf("damaged image: sector %d is not a volume descriptor and no terminator came before it", i)
		}
		switch d[0] {
		case 1:
			if primary == nil {
				primary = d
			}
		case 2:
			// Joliet is a supplementary descriptor whose escape sequences name UCS-2 level 1, 2 or 3.
			esc := d[88:120]
			if bytes.Contains(esc, []byte("%/@")) || bytes.Contains(esc, []byte("%/C")) || bytes.Contains(esc, []byte("%/E")) {
				v.Joliet = true
			}
		case 255:
			terminated = true
		}
	}
	if !terminated {
		return nil, fmt.Errorf("damaged image: no volume descriptor set terminator in %d descriptors", maxDescriptors)
	}
	if primary == nil {
		return nil, errors.New("not an ISO-9660 image: no primary volume descriptor")
	}
	v.ID = strings.TrimRight(string(primary[40:72]), " \x00")
	v.BlockSize = int64(binary.LittleEndian.Uint16(primary[128:130]))
	if v.BlockSize == 0 {
		return nil, errors.New("damaged image: the primary volume descriptor gives a logical block size of 0")
	}
	v.Size = int64(binary.LittleEndian.Uint32(primary[80:84])) * v.BlockSize
	if fileSize < v.Size {
		return nil, fmt.Errorf("truncated image: the primary volume descriptor gives %d bytes, the file has %d", v.Size, fileSize)
	}
	rr, err := rockRidge(r, primary[156:190], v.BlockSize)
	if err != nil {
		return nil, fmt.Errorf("damaged image: root directory: %w", err)
	}
	v.RockRidge = rr
	return &v, nil
}

// rockRidge tells whether the root directory's own record (".") starts with the SUSP
// indicator (SP) and carries Rock Ridge: an ER entry naming RRIP, or a PX entry, which
// RRIP puts in every record. ER usually sits in a continuation area (CE), followed here.
func rockRidge(r io.ReaderAt, rootRecord []byte, blockSize int64) (bool, error) {
	extent := int64(binary.LittleEndian.Uint32(rootRecord[2:6]))
	rec := make([]byte, 255)
	if _, err := r.ReadAt(rec, extent*blockSize); err != nil {
		return false, fmt.Errorf("record at block %d cannot be read: %w", extent, err)
	}
	n, nameLen := int(rec[0]), int(rec[32])
	if n < 34 || 33+nameLen > n {
		return false, fmt.Errorf("record at block %d has an invalid length %d", extent, n)
	}
	// The system use area follows the name, padded to an even offset.
	su := rec[33+nameLen+(nameLen+1)%2 : n]
	if len(su) < 7 || string(su[:2]) != "SP" || su[4] != 0xBE || su[5] != 0xEF {
		return false, nil
	}
	for hops := 0; len(su) >= 4 && hops <= maxContinuations; {
		var next []byte
		for i := 0; i+4 <= len(su); {
			sig, l := string(su[i:i+2]), int(su[i+2])
			if l < 4 || i+l > len(su) {
				break
			}
			e := su[i : i+l]
			switch sig {
			case "PX":
				return true, nil
			case "ER":
				if l >= 8 && 8+int(e[4]) <= l {
					switch string(e[8 : 8+int(e[4])]) {
					case "RRIP_1991A", "IEEE_P1282", "IEEE_1282":
						return true, nil
					}
				}
			case "CE":
				if l >= 28 {
					block := int64(binary.LittleEndian.Uint32(e[4:8]))
					off := int64(binary.LittleEndian.Uint32(e[12:16]))
					size := int64(binary.LittleEndian.Uint32(e[20:24]))
					if size > 0 && size <= blockSize {
						next = make([]byte, size)
						if _, err := r.ReadAt(next, block*blockSize+off); err != nil {
							return false, fmt.Errorf("SUSP continuation area at block %d cannot be read: %w", block, err)
						}
					}
				}
			case "ST":
				i = len(su)
				continue
			}
			i += l
		}
		su, next = next, nil
		hops++
	}
	return false, nil
}
