package keyhole

// Ed25519 keys (docs/signed-urls.md, "Ed25519 keys"): `kid:ed25519-seed:SEED` signs with
// crypto/ed25519; `kid:ed25519:PUBLIC` only verifies, so it is refused here.

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// keySigner returns the key id of the first entry of a KEYHOLE_KEYS value and a function
// that signs with it: HMAC-SHA256 for a secret, Ed25519 for a seed (chosen by the key, as
// keyhole does).
func keySigner(keys string) (string, func([]byte) []byte, error) {
	for _, entry := range strings.FieldsFunc(keys, func(r rune) bool { return r == ',' || r == '\n' }) {
		entry = strings.TrimSpace(entry)
		if entry == "" || strings.HasPrefix(entry, "#") {
			continue
		}
		kid, material, _ := strings.Cut(entry, ":")
		material = strings.TrimSpace(material)
		if strings.HasPrefix(material, "ed25519:") {
			return "", nil, refuse("the key is an Ed25519 public key (`kid:ed25519:…`): it verifies but cannot sign; sign with its `kid:ed25519-seed:…` line")
		}
		if strings.HasPrefix(material, "ed25519-seed:") {
			seedText := strings.TrimPrefix(material, "ed25519-seed:")
			kid = strings.TrimSpace(kid)
			if !kidPattern.MatchString(kid) {
				return "", nil, refuse("key must be `kid:secret` with a kid of 1-32 of A-Z a-z 0-9 _ -")
			}
			seed, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(strings.TrimSpace(seedText), "="))
			if err != nil || len(seed) != ed25519.SeedSize {
				return "", nil, refuse("the Ed25519 seed must be exactly 32 bytes of base64url")
			}
			private := ed25519.NewKeyFromSeed(seed)
			return kid, func(text []byte) []byte { return ed25519.Sign(private, text) }, nil
		}
		break
	}
	kid, secret, err := SigningKey(keys)
	if err != nil {
		return "", nil, err
	}
	return kid, func(text []byte) []byte {
		mac := hmac.New(sha256.New, secret)
		mac.Write(text)
		return mac.Sum(nil)
	}, nil
}
