package anchor

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// Store is the world-state subset the rules need (the Fabric stub satisfies it through a thin
// adapter; tests use a map).
type Store interface {
	Get(key string) ([]byte, error)
	Put(key string, value []byte) error
}

// Record is one anchored checkpoint as kept in world state and returned to clients.
type Record struct {
	Origin string `json:"origin"`
	Size   uint64 `json:"size"`
	Root   string `json:"root"` // base64
	Note   string `json:"note"` // exact signed-note text
	TxID   string `json:"txid"`
}

type logEntry struct {
	Origin   string `json:"origin"`
	Verifier string `json:"verifier"`
}

// ErrNotFound is returned when a log or checkpoint does not exist.
var ErrNotFound = errors.New("not found")

func logKey(origin string) string    { return "log/" + origin }
func latestKey(origin string) string { return "latest/" + origin }
func sizeKey(origin string, size uint64) string {
	return fmt.Sprintf("size/%s/%020d", origin, size)
}

// RegisterLog records the verifier key for origin. Re-registering the same key is a no-op;
// a different key for an existing origin is refused so a log's identity cannot be replaced.
func RegisterLog(s Store, origin, verifierKey string) error {
	if origin == "" {
		return errors.New("origin is empty")
	}
	if _, err := ParseVerifier(verifierKey); err != nil {
		return err
	}
	old, err := s.Get(logKey(origin))
	if err != nil {
		return err
	}
	if old != nil {
		var e logEntry
		if err := json.Unmarshal(old, &e); err != nil {
			return fmt.Errorf("stored log entry for %q is corrupt: %w", origin, err)
		}
		if e.Verifier == verifierKey {
			return nil
		}
		return fmt.Errorf("log %q is already registered with another key", origin)
	}
	b, _ := json.Marshal(logEntry{Origin: origin, Verifier: verifierKey})
	return s.Put(logKey(origin), b)
}

// AnchorCheckpoint accepts a signed checkpoint for a registered log if its signature verifies,
// its size exceeds the last anchored size, and proof (RFC 9162) shows it extends the last
// anchored checkpoint. The first checkpoint of a log needs no proof.
func AnchorCheckpoint(s Store, note []byte, proof [][]byte, txID string) (Record, error) {
	body, err := noteBody(note)
	if err != nil {
		return Record{}, err
	}
	claimed, err := ParseCheckpointBody(body)
	if err != nil {
		return Record{}, err
	}
	raw, err := s.Get(logKey(claimed.Origin))
	if err != nil {
		return Record{}, err
	}
	if raw == nil {
		return Record{}, fmt.Errorf("log %q is not registered", claimed.Origin)
	}
	var e logEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		return Record{}, fmt.Errorf("stored log entry for %q is corrupt: %w", claimed.Origin, err)
	}
	v, err := ParseVerifier(e.Verifier)
	if err != nil {
		return Record{}, err
	}
	cp, err := OpenCheckpoint(note, v)
	if err != nil {
		return Record{}, err
	}
	last, err := Latest(s, cp.Origin)
	switch {
	case errors.Is(err, ErrNotFound):
		if len(proof) != 0 {
			return Record{}, errors.New("first checkpoint of a log takes no consistency proof")
		}
	case err != nil:
		return Record{}, err
	default:
		lastRoot, _ := base64.StdEncoding.DecodeString(last.Root)
		if cp.Size == last.Size && !bytes.Equal(cp.Root, lastRoot) {
			return Record{}, fmt.Errorf("fork detected: checkpoint of size %d has a different root than the anchored one", cp.Size)
		}
		if cp.Size <= last.Size {
			return Record{}, fmt.Errorf("checkpoint size %d is not larger than the anchored size %d", cp.Size, last.Size)
		}
		if err := VerifyConsistency(last.Size, cp.Size, lastRoot, cp.Root, proof); err != nil {
			return Record{}, fmt.Errorf("consistency proof from size %d to %d rejected: %w", last.Size, cp.Size, err)
		}
	}
	rec := Record{
		Origin: cp.Origin, Size: cp.Size, Root: base64.StdEncoding.EncodeToString(cp.Root),
		Note: string(note), TxID: txID,
	}
	b, _ := json.Marshal(rec)
	if err := s.Put(sizeKey(cp.Origin, cp.Size), b); err != nil {
		return Record{}, err
	}
	if err := s.Put(latestKey(cp.Origin), b); err != nil {
		return Record{}, err
	}
	return rec, nil
}

// Latest returns the last anchored checkpoint of origin, or ErrNotFound.
func Latest(s Store, origin string) (Record, error) {
	return load(s, latestKey(origin), fmt.Sprintf("log %q has no anchored checkpoint", origin))
}

// BySize returns the anchored checkpoint of origin with the given size, or ErrNotFound.
func BySize(s Store, origin string, size uint64) (Record, error) {
	return load(s, sizeKey(origin, size), fmt.Sprintf("log %q has no anchored checkpoint of size %d", origin, size))
}

func load(s Store, key, missing string) (Record, error) {
	raw, err := s.Get(key)
	if err != nil {
		return Record{}, err
	}
	if raw == nil {
		return Record{}, fmt.Errorf("%s: %w", missing, ErrNotFound)
	}
	var r Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return Record{}, fmt.Errorf("stored checkpoint is corrupt: %w", err)
	}
	return r, nil
}

func noteBody(note []byte) ([]byte, error) {
	sep := bytes.LastIndex(note, []byte("\n\n"))
	if sep < 0 {
		return nil, errors.New("note is not a signed note: missing blank line before signatures")
	}
	return note[:sep+1], nil
}
