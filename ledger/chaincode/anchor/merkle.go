// Package anchor holds the chaincode's rules for anchoring transparency-log checkpoints:
// RFC 9162 consistency proofs, C2SP signed-note verification and the anchoring state machine.
// It uses only the standard library so it can be tested without a Fabric network.
package anchor

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
)

// HashSize is the size of a SHA-256 Merkle tree hash (RFC 9162 §2.1.1).
const HashSize = sha256.Size

func hashChildren(left, right []byte) []byte {
	h := sha256.New()
	h.Write([]byte{0x01})
	h.Write(left)
	h.Write(right)
	return h.Sum(nil)
}

// VerifyConsistency checks an RFC 9162 §2.1.4.2 consistency proof that the tree of size2 with
// root2 extends the tree of size1 with root1. It returns a descriptive error when it does not.
func VerifyConsistency(size1, size2 uint64, root1, root2 []byte, proof [][]byte) error {
	if len(root1) != HashSize || len(root2) != HashSize {
		return fmt.Errorf("roots must be %d-byte SHA-256 hashes", HashSize)
	}
	for i, p := range proof {
		if len(p) != HashSize {
			return fmt.Errorf("consistency proof element %d is %d bytes, want %d", i, len(p), HashSize)
		}
	}
	if size1 > size2 {
		return fmt.Errorf("tree size %d is smaller than the anchored size %d", size2, size1)
	}
	if size1 == size2 {
		if len(proof) != 0 {
			return errors.New("consistency proof between equal sizes must be empty")
		}
		if !bytes.Equal(root1, root2) {
			return errors.New("roots differ for the same tree size")
		}
		return nil
	}
	if size1 == 0 {
		return errors.New("no consistency proof exists from the empty tree")
	}
	if len(proof) == 0 {
		return errors.New("consistency proof is empty")
	}
	path := proof
	if size1&(size1-1) == 0 { // size1 is a power of two: the old root is itself a node of the path
		path = append([][]byte{root1}, proof...)
	}
	fn, sn := size1-1, size2-1
	for fn&1 == 1 {
		fn >>= 1
		sn >>= 1
	}
	fr := append([]byte(nil), path[0]...)
	sr := append([]byte(nil), path[0]...)
	for _, c := range path[1:] {
		if sn == 0 {
			return errors.New("consistency proof is too long")
		}
		if fn&1 == 1 || fn == sn {
			fr = hashChildren(c, fr)
			sr = hashChildren(c, sr)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			sr = hashChildren(sr, c)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return errors.New("consistency proof is too short")
	}
	if !bytes.Equal(fr, root1) {
		return errors.New("consistency proof does not lead to the anchored root")
	}
	if !bytes.Equal(sr, root2) {
		return errors.New("consistency proof does not lead to the new root")
	}
	return nil
}
