package solution

import (
	"context"
	"encoding/binary"
	"os"
	"testing"
	"time"
)

// TestOpenRefusesLoops: a damaged or hostile image whose directories or Rock Ridge
// continuation areas loop is refused, in a bounded time and whatever the context: a
// reconciler must not hang on an archive.
func TestOpenRefusesLoops(t *testing.T) {
	for _, c := range []struct {
		name   string
		damage func(t *testing.T, path string)
		want   string
	}{
		{"directory pointing at the root", func(t *testing.T, p string) {
			editRootRecord(t, p, "OPERATOR", func(rec []byte, root uint32) {
				putBoth32(rec[2:], root)
			})
		}, "damaged image: its directories cannot be read: directory operator is at block"},
		{"continuation area pointing at itself", func(t *testing.T, p string) {
			// manifest.yaml's record ends with a CE to an area (block 1, in the unused
			// system area) that is a CE to itself.
			editRootRecord(t, p, "MANIFEST.YAML;1", func(rec []byte, _ uint32) { loopContinuation(t, rec) })
			writeAt(t, p, 2048, continuationEntry(1, 0, 28))
		}, "its Rock Ridge continuation areas (CE) loop"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := build(t, nil)
			c.damage(t, p)
			done := make(chan error, 1)
			go func() {
				a, err := Open(context.Background(), p)
				if a != nil {
					t.Errorf("opened: %+v", a)
				}
				done <- err
			}()
			select {
			case err := <-done:
				checkRefusal(t, p, nil, err, "", []string{c.want})
			case <-time.After(30 * time.Second):
				t.Fatal("Open still reading the image after 30s")
			}
		})
	}
}

// editRootRecord calls edit on the record of the root directory named id (an ISO-9660
// identifier, MANIFEST.YAML;1), with the root directory's extent, and writes it back.
func editRootRecord(t *testing.T, path, id string, edit func(rec []byte, root uint32)) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pvd := readPVD(t, f)
	extent := binary.LittleEndian.Uint32(pvd[156+2:])
	dir := make([]byte, binary.LittleEndian.Uint32(pvd[156+10:]))
	if _, err := f.ReadAt(dir, int64(extent)*2048); err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(dir); {
		n := int(dir[off])
		if n == 0 { // records do not cross sectors: the next one starts the next sector
			off = (off/2048 + 1) * 2048
			continue
		}
		if nl := int(dir[off+32]); string(dir[off+33:off+33+nl]) == id {
			edit(dir[off:off+n], extent)
			if _, err := f.WriteAt(dir[off:off+n], int64(extent)*2048+int64(off)); err != nil {
				t.Fatal(err)
			}
			return
		}
		off += n
	}
	t.Fatalf("no record %s in the root directory of %s", id, path)
}

// loopContinuation rewrites the system use area of a record: its PX entry out, a CE to
// block 1 as its last entry (the one go-diskfs follows), a PD padding entry first.
func loopContinuation(t *testing.T, rec []byte) {
	t.Helper()
	nl := int(rec[32])
	su := rec[33+nl+(nl+1)%2:]
	var rest []byte
	removed := 0
	for i := 0; i+4 <= len(su) && su[i+2] >= 4; {
		l := int(su[i+2])
		if string(su[i:i+2]) == "PX" && removed == 0 {
			removed = l
		} else {
			rest = append(rest, su[i:i+l]...)
		}
		i += l
	}
	if removed < 28+4 {
		t.Fatalf("no PX entry to make room for a CE (%d)", removed)
	}
	pad := len(su) - len(rest) - 28
	pd := make([]byte, pad)
	copy(pd, "PD")
	pd[2], pd[3] = byte(pad), 1
	copy(su, append(append(pd, rest...), continuationEntry(1, 0, 28)...))
}

// continuationEntry is a SUSP CE entry: the continuation area at block, offset, size.
func continuationEntry(block, offset, size uint32) []byte {
	ce := make([]byte, 28)
	copy(ce, "CE")
	ce[2], ce[3] = 28, 1
	putBoth32(ce[4:], block)
	putBoth32(ce[12:], offset)
	putBoth32(ce[20:], size)
	return ce
}

// putBoth32 writes v in ISO-9660's both-byte-order form (little then big endian).
func putBoth32(b []byte, v uint32) {
	binary.LittleEndian.PutUint32(b, v)
	binary.BigEndian.PutUint32(b[4:], v)
}

func writeAt(t *testing.T, path string, off int64, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, off); err != nil {
		t.Fatal(err)
	}
}
