package keyhole

import (
	"crypto/rand"
	"encoding/base64"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// CookieName is keyhole's default cookie name (KEYHOLE_COOKIE_NAME).
const CookieName = "__Host-keyhole"

const maxCookieValue = 1024

var sidPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// CookieOptions says what a cookie grant allows (docs/cookies.md). Set Expires, or TTL
// (from Now, default the clock); Max-Age is the expiry minus Now.
type CookieOptions struct {
	Expires     time.Time     // absolute expiry (whole seconds are used)
	TTL         time.Duration // lifetime from Now, when Expires is zero
	Now         time.Time     // zero means time.Now()
	SessionID   string        // 1-64 of A-Z a-z 0-9 _ -; empty: a fresh random id (128 bits)
	NoSessionID bool          // sign without a session id (it cannot be revoked alone)
	IP          string        // client address or network in canonical form; empty: any client
	Methods     string        // "GET,HEAD", "GET" or "HEAD"; empty means "GET,HEAD"
	Strict      bool          // SameSite=Strict instead of Lax
	Name        string        // cookie name; empty means CookieName
}

// Cookie is a signed cookie grant.
type Cookie struct {
	Value        string // the cookie's value: 2.<kid>.<scope>.<exp>.<sid>.<ip>.<methods>.<sig>
	SetCookie    string // the whole Set-Cookie header value
	SessionID    string // name it in `keyhole revoke --sid`; empty when none
	Expires      time.Time
	MaxAge       int64
	StringToSign string
}

// CookieStringToSign is the exact text HMAC-SHA256 covers for a cookie grant, format
// v2 (ip empty when unbound; methods "GET,HEAD", "GET" or "HEAD").
func CookieStringToSign(kid, scope string, exp int64, sid, ip, methods string) string {
	return strings.Join([]string{"keyhole-cookie-v2", "kid:" + kid, "scope:" + scope,
		"exp:" + strconv.FormatInt(exp, 10), "sid:" + sid, "ip:" + ip,
		"methods:" + methods}, "\n")
}

// SignCookie signs a cookie grant for every file below the decoded scope (ending in
// "/") with the first key of keys ("kid:secret", or a KEYHOLE_KEYS list).
func SignCookie(keys, scope string, o CookieOptions) (Cookie, error) {
	kid, sign, err := keySigner(keys)
	if err != nil {
		return Cookie{}, err
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	expires := o.Expires
	if expires.IsZero() {
		if o.TTL <= 0 {
			return Cookie{}, refuse("give Expires or a positive TTL")
		}
		expires = now.Add(o.TTL)
	}
	exp := expires.Unix()
	if exp < 0 || exp > maxTimestamp {
		return Cookie{}, refuse("expiry %d is not Unix seconds (0 to 12 digits)", exp)
	}
	if exp <= now.Unix() {
		return Cookie{}, refuse("expiry %d is not in the future", exp)
	}
	if err := checkPath(scope, "scope", true); err != nil {
		return Cookie{}, err
	}
	sid := o.SessionID
	switch {
	case o.NoSessionID && sid != "":
		return Cookie{}, refuse("give SessionID or NoSessionID, not both")
	case o.NoSessionID:
	case sid == "":
		random := make([]byte, 16)
		if _, err := rand.Read(random); err != nil {
			return Cookie{}, err
		}
		sid = base64.RawURLEncoding.EncodeToString(random)
	case !sidPattern.MatchString(sid):
		return Cookie{}, refuse("session id %q must be 1-64 of A-Z a-z 0-9 _ -", sid)
	}
	if o.IP != "" {
		if err := checkIP(o.IP); err != nil {
			return Cookie{}, err
		}
	}
	methods := o.Methods
	switch methods {
	case "":
		methods = "GET,HEAD"
	case "GET,HEAD", "GET", "HEAD":
	default:
		return Cookie{}, refuse("methods must be GET,HEAD, GET or HEAD, not %q", methods)
	}
	text := CookieStringToSign(kid, scope, exp, sid, o.IP, methods)
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	value := strings.Join([]string{"2", kid, b64(scope), strconv.FormatInt(exp, 10), sid,
		b64(o.IP), b64(methods), base64.RawURLEncoding.EncodeToString(sign([]byte(text)))}, ".")
	if len(value) > maxCookieValue {
		return Cookie{}, refuse("the cookie value would be longer than %d bytes", maxCookieValue)
	}
	name := o.Name
	if name == "" {
		name = CookieName
	}
	sameSite := "Lax"
	if o.Strict {
		sameSite = "Strict"
	}
	maxAge := exp - now.Unix()
	return Cookie{
		Value: value,
		SetCookie: name + "=" + value + "; HttpOnly; SameSite=" + sameSite +
			"; Secure; Path=/; Max-Age=" + strconv.FormatInt(maxAge, 10),
		SessionID:    sid,
		Expires:      time.Unix(exp, 0),
		MaxAge:       maxAge,
		StringToSign: text,
	}, nil
}
