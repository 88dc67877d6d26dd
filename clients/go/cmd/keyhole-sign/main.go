// Command keyhole-sign prints a signed keyhole URL, or checks the test vectors.
//
//	KEYHOLE_KEYS=k1:… go run ./cmd/keyhole-sign [--exp N | --ttl N [--window N] [--now N]]
//	    [--nbf N] [--scope S] [--ip IP] [--methods M] [--query Q] [--host H] [--string-to-sign] PATH
//	go run ./cmd/keyhole-sign --vectors ../../tests/vectors/signed-urls.json
//	KEYHOLE_KEYS=k1:… go run ./cmd/keyhole-sign --cookie [--exp N | --ttl N] [--now N]
//	    [--sid ID | --no-sid] [--ip IP] [--methods GET,HEAD|GET|HEAD]
//	    [--same-site Lax|Strict] [--value | --string-to-sign] SCOPE
//	go run ./cmd/keyhole-sign --cookie-vectors ../../tests/vectors/cookies.json
//
// Times are Unix seconds and durations whole seconds. Exit codes: 0 success, 1 a vector
// differs, 2 usage error or a URL keyhole would deny.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/keyhole-auth/keyhole/clients/go/keyhole"
)

func main() {
	code, err := run()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

func run() (int, error) {
	flags := flag.NewFlagSet("keyhole-sign", flag.ContinueOnError)
	vectors := flags.String("vectors", "", "check every signing vector in this JSON file")
	exp := flags.Int64("exp", 0, "expiry, Unix seconds")
	ttl := flags.Int64("ttl", 0, "lifetime in seconds from --now")
	window := flags.Int64("window", 0, "round the expiry up to a multiple of this many seconds")
	now := flags.Int64("now", 0, "the time --ttl counts from, Unix seconds (default: the clock)")
	nbf := flags.Int64("nbf", 0, "not valid before this Unix time")
	scope := flags.String("scope", "", "decoded path prefix ending in /")
	ip := flags.String("ip", "", "client address or network")
	methods := flags.String("methods", "", "allowed methods (default GET,HEAD)")
	query := flags.String("query", "", "application query to bind (already encoded)")
	host := flags.String("host", "", "the one virtual host the URL opens on")
	showText := flags.Bool("string-to-sign", false, "print the signed text instead of the URL")
	cookie := flags.Bool("cookie", false, "sign a cookie grant for SCOPE; print its Set-Cookie value")
	cookieVectors := flags.String("cookie-vectors", "", "check every cookie vector in this JSON file")
	sid := flags.String("sid", "", "cookie session id (default: a random one)")
	noSid := flags.Bool("no-sid", false, "cookie without a session id")
	sameSite := flags.String("same-site", "Lax", "cookie SameSite: Lax or Strict")
	showValue := flags.Bool("value", false, "print the cookie value instead of the Set-Cookie value")
	if err := flags.Parse(os.Args[1:]); err != nil {
		return 2, nil
	}
	if *vectors != "" {
		return checkVectors(*vectors)
	}
	if *cookieVectors != "" {
		return checkCookieVectors(*cookieVectors)
	}
	if *cookie {
		if flags.NArg() != 1 {
			return 2, fmt.Errorf("give exactly one SCOPE (decoded, ending in `/`)")
		}
		if *sameSite != "Lax" && *sameSite != "Strict" {
			return 2, fmt.Errorf("--same-site must be Lax or Strict, not %q", *sameSite)
		}
		options := keyhole.CookieOptions{
			TTL:         time.Duration(*ttl) * time.Second,
			SessionID:   *sid,
			NoSessionID: *noSid,
			IP:          *ip,
			Methods:     *methods,
			Strict:      *sameSite == "Strict",
		}
		sidGiven, methodsGiven, ipGiven := false, false, false
		flags.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "exp":
				options.Expires = time.Unix(*exp, 0)
			case "now":
				options.Now = time.Unix(*now, 0)
			case "sid":
				sidGiven = true
			case "methods":
				methodsGiven = true
			case "ip":
				ipGiven = true
			}
		})
		if sidGiven && *sid == "" {
			return 2, fmt.Errorf("--sid needs an id; use --no-sid for none")
		}
		if methodsGiven && *methods == "" {
			return 2, fmt.Errorf("--methods must be GET,HEAD, GET or HEAD, not empty")
		}
		if ipGiven && *ip == "" {
			return 2, fmt.Errorf("--ip needs an address or network; leave it out for any client")
		}
		signed, err := keyhole.SignCookie(os.Getenv("KEYHOLE_KEYS"), flags.Arg(0), options)
		if err != nil {
			return 2, err
		}
		switch {
		case *showText:
			fmt.Println(signed.StringToSign)
		case *showValue:
			fmt.Println(signed.Value)
		default:
			fmt.Println(signed.SetCookie)
		}
		return 0, nil
	}
	if flags.NArg() != 1 {
		return 2, fmt.Errorf("give exactly one PATH (decoded, e.g. '/photos/café au lait.jpg')")
	}
	options := keyhole.URLOptions{
		TTL:     time.Duration(*ttl) * time.Second,
		Window:  time.Duration(*window) * time.Second,
		Scope:   *scope,
		IP:      *ip,
		Methods: *methods,
		Query:   *query,
		Host:    *host,
	}
	hostGiven := false
	flags.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "exp":
			options.Expires = time.Unix(*exp, 0)
		case "now":
			options.Now = time.Unix(*now, 0)
		case "nbf":
			options.NotBefore = time.Unix(*nbf, 0)
		case "query":
			options.BindQuery = true
		case "host":
			hostGiven = true
		}
	})
	if hostGiven && *host == "" {
		return 2, fmt.Errorf("--host must not be empty; leave it out to sign for any host")
	}
	signed, err := keyhole.Sign(os.Getenv("KEYHOLE_KEYS"), flags.Arg(0), options)
	if err != nil {
		return 2, err
	}
	if *showText {
		fmt.Println(signed.StringToSign)
	} else {
		fmt.Println(signed.URL)
	}
	return 0, nil
}

// vectorKey is a vector file's key: an HMAC secret, or an Ed25519 seed.
type vectorKey struct{ Kid, Secret, Seed string }

// line is the key as a KEYHOLE_KEYS entry.
func (k vectorKey) line() string {
	if k.Seed != "" {
		return k.Kid + ":ed25519-seed:" + k.Seed
	}
	return k.Kid + ":" + k.Secret
}

// checkVectors signs every `signing` vector and compares URL and signed text.
func checkVectors(fileName string) (int, error) {
	data, err := os.ReadFile(fileName)
	if err != nil {
		return 2, err
	}
	var file struct {
		Key     vectorKey
		Now     int64
		Signing []struct {
			Name         string
			StringToSign string `json:"string_to_sign"`
			URL          string
			Input        struct {
				Path, Scope, IP, Methods string
				Exp, Nbf                 int64
				Query                    *string
				Host                     string
			}
		}
	}
	if err := json.Unmarshal(data, &file); err != nil {
		return 2, err
	}
	failures := 0
	for _, c := range file.Signing {
		options := keyhole.URLOptions{
			Expires: time.Unix(c.Input.Exp, 0),
			Now:     time.Unix(file.Now, 0),
			Scope:   c.Input.Scope,
			IP:      c.Input.IP,
			Methods: c.Input.Methods,
			Host:    c.Input.Host,
		}
		if c.Input.Nbf != 0 {
			options.NotBefore = time.Unix(c.Input.Nbf, 0)
		}
		if c.Input.Query != nil {
			options.BindQuery, options.Query = true, *c.Input.Query
		}
		signed, err := keyhole.Sign(file.Key.line(), c.Input.Path, options)
		if err == nil && signed.URL == c.URL && signed.StringToSign == c.StringToSign {
			fmt.Println("ok   " + c.Name)
			continue
		}
		failures++
		fmt.Printf("FAIL %s\n  want %s\n  got  %s (%v)\n", c.Name, c.URL, signed.URL, err)
	}
	if failures > 0 {
		return 1, nil
	}
	return 0, nil
}

// cookieCase is one cookie vector.
type cookieCase struct {
	Name         string
	StringToSign string `json:"string_to_sign"`
	Value        string
	SetCookie    string `json:"set_cookie"`
	Input        struct {
		Scope, Sid, IP, Methods string
		Exp                     int64
		SameSite                string `json:"same_site"`
		MaxAge                  int64  `json:"max_age"`
	}
}

// checkCookieVectors signs every cookie vector and compares value, header and text.
func checkCookieVectors(fileName string) (int, error) {
	data, err := os.ReadFile(fileName)
	if err != nil {
		return 2, err
	}
	var file struct {
		Key     vectorKey
		Now     int64
		Name    string
		Signing []cookieCase
		Cookies []cookieCase
	}
	if err := json.Unmarshal(data, &file); err != nil {
		return 2, err
	}
	// The Ed25519 file keeps its cookie vectors under `cookies`.
	if file.Cookies != nil {
		file.Signing = file.Cookies
	}
	failures := 0
	for _, c := range file.Signing {
		signed, err := keyhole.SignCookie(file.Key.line(), c.Input.Scope,
			keyhole.CookieOptions{
				Expires:     time.Unix(c.Input.Exp, 0),
				Now:         time.Unix(file.Now, 0),
				SessionID:   c.Input.Sid,
				NoSessionID: c.Input.Sid == "",
				IP:          c.Input.IP,
				Methods:     c.Input.Methods,
				Strict:      c.Input.SameSite == "Strict",
				Name:        file.Name,
			})
		if err == nil && signed.Value == c.Value && signed.SetCookie == c.SetCookie &&
			signed.StringToSign == c.StringToSign && signed.MaxAge == c.Input.MaxAge {
			fmt.Println("ok   " + c.Name)
			continue
		}
		failures++
		fmt.Printf("FAIL %s\n  want %s\n  got  %s (%v)\n", c.Name, c.SetCookie, signed.SetCookie, err)
	}
	if failures > 0 {
		return 1, nil
	}
	return 0, nil
}
