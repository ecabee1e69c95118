// Package main builds libaitbc_ed25519.so: the chain's signature rule (ed25519 as ZIP-215
// defines it) for the Python app, with batch verification.
//
// Why ZIP-215: it is the rule under which checking signatures one by one and checking them as
// a batch always agree, so nodes that batch differently still agree on every tx (CometBFT
// checks its own consensus signatures the same way). One change: a small-order public key is
// refused, as libsodium refuses it; under plain ZIP-215 anyone can sign for such a key, so
// the address it gives would be anyone's to spend. The check is on the key alone, the same in
// a batch as one by one. The rule accepts every signature libsodium's strict check accepts,
// and a few crafted ones more (non-canonical encodings, R with a small-order component:
// no honest signer makes them).
package main

// #include <stdint.h>
import "C"

import (
	"sync"
	"unsafe"

	"github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// version names the interface and the rule: nodes must agree on it. Bump it with LIBRARY_VERSION
// in aitbc/ed25519_native.py and ED25519_VERSION in scripts/setup.sh whenever either changes.
const version = 1

var options = &ed25519.Options{Verify: &ed25519.VerifyOptions{
	AllowSmallOrderA:   false,
	AllowSmallOrderR:   true,
	AllowNonCanonicalA: true,
	AllowNonCanonicalR: true,
}}

// expandedKeys keeps the expanded form of public keys whose signatures checked out: the
// decompressed point and its table for the multiscalar multiply, which curve25519-voi otherwise
// builds anew for every signature. Busy senders sign many txs, so most signatures skip that
// step. A key enters once a signature of it checks out, so a forged one evicts nothing; a
// validly signed tx from a fresh key does, even one CheckTx then refuses for its account,
// and the keys it pushes out cost what they cost without the cache. Bounded: a random entry
// leaves when it is full (~1.5 KiB each).
// The outcome of a check does not depend on the cache: the expanded key is what the library
// makes of the same 32 bytes on its own (it caches whether the key is small-order too).
const expandedKeysMax = 4096

var (
	expandedMu   sync.Mutex
	expandedKeys = make(map[[ed25519.PublicKeySize]byte]*ed25519.ExpandedPublicKey, expandedKeysMax)
)

func cachedKey(key ed25519.PublicKey) *ed25519.ExpandedPublicKey {
	expandedMu.Lock()
	defer expandedMu.Unlock()
	return expandedKeys[[ed25519.PublicKeySize]byte(key)]
}

func keepKeys(keys []*ed25519.ExpandedPublicKey) {
	expandedMu.Lock()
	defer expandedMu.Unlock()
	for _, expanded := range keys {
		name := [ed25519.PublicKeySize]byte(expanded.CompressedY())
		if _, ok := expandedKeys[name]; ok {
			continue
		}
		for other := range expandedKeys { // Go starts a map's range at a random entry
			if len(expandedKeys) < expandedKeysMax {
				break
			}
			delete(expandedKeys, other)
		}
		expandedKeys[name] = expanded
	}
}

//export aitbc_ed25519_version
func aitbc_ed25519_version() C.int { return version }

// aitbc_ed25519_verify_batch checks n signatures: public keys (32 bytes each) and signatures
// (64 bytes each) back to back, the messages back to back with their lengths in msgLens.
// out[i] is set to 1 for a valid signature and 0 otherwise; the return value is 1 when all
// are valid.
//
//export aitbc_ed25519_verify_batch
func aitbc_ed25519_verify_batch(n C.int, pubs, sigs, msgs *C.uint8_t, msgLens *C.uint32_t, out *C.uint8_t) C.int {
	count := int(n)
	if count <= 0 {
		return 1
	}
	keys := unsafe.Slice((*byte)(pubs), count*ed25519.PublicKeySize)
	signatures := unsafe.Slice((*byte)(sigs), count*ed25519.SignatureSize)
	lengths := unsafe.Slice((*uint32)(unsafe.Pointer(msgLens)), count)
	total := 0
	for _, l := range lengths {
		total += int(l)
	}
	var messages []byte
	if total > 0 {
		messages = unsafe.Slice((*byte)(msgs), total)
	}
	results := unsafe.Slice((*byte)(out), count)

	key := func(i int) ed25519.PublicKey {
		return ed25519.PublicKey(keys[i*ed25519.PublicKeySize : (i+1)*ed25519.PublicKeySize])
	}
	signature := func(i int) []byte {
		return signatures[i*ed25519.SignatureSize : (i+1)*ed25519.SignatureSize]
	}
	// Each key in expanded form: from the cache, or made here (kept once its signature checks out).
	expanded := make([]*ed25519.ExpandedPublicKey, count)
	made := make([]bool, count)
	for i := range expanded {
		if expanded[i] = cachedKey(key(i)); expanded[i] == nil {
			// nil for a key that is no curve point: the library refuses its signatures.
			expanded[i], _ = ed25519.NewExpandedPublicKey(key(i))
			made[i] = expanded[i] != nil
		}
	}
	var all bool
	if count == 1 {
		all = expanded[0] != nil && ed25519.VerifyExpandedWithOptions(expanded[0], messages, signature(0), options)
		results[0] = boolByte(all)
	} else {
		batch := ed25519.NewBatchVerifierWithCapacity(count)
		offset := 0
		for i := 0; i < count; i++ {
			end := offset + int(lengths[i])
			if expanded[i] != nil {
				batch.AddExpandedWithOptions(expanded[i], messages[offset:end], signature(i), options)
			} else {
				batch.AddWithOptions(key(i), messages[offset:end], signature(i), options)
			}
			offset = end
		}
		var each []bool
		all, each = batch.Verify(nil)
		for i, ok := range each {
			results[i] = boolByte(ok)
		}
	}
	var fresh []*ed25519.ExpandedPublicKey
	for i := range expanded {
		if made[i] && results[i] == 1 {
			fresh = append(fresh, expanded[i])
		}
	}
	if len(fresh) > 0 {
		keepKeys(fresh)
	}
	return C.int(boolByte(all))
}

func boolByte(ok bool) byte {
	if ok {
		return 1
	}
	return 0
}

func main() {}
