package github

import (
	"context"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tandemsync/tandem/core/trackers/connector"
	"github.com/tandemsync/tandem/core/trackers/httpx"
)

// appAuth signs in as a GitHub App installation: a JWT signed with the app's private key buys
// an installation token (valid an hour), renewed a few minutes before it expires.
type appAuth struct {
	t              *Tracker
	appID, install string
	key            *rsa.PrivateKey
	hc             *httpx.Client // sends the JWT, not the installation token

	mu      sync.Mutex
	current string
	expires time.Time
}

var digits = regexp.MustCompile(`^[0-9]+$`)

func newAppAuth(t *Tracker, cfg Config) (*appAuth, error) {
	appID, install := strings.TrimSpace(cfg.AppID), strings.TrimSpace(cfg.InstallationID)
	if !digits.MatchString(appID) {
		return nil, fmt.Errorf("github app id %q is not a number: it is on the app's settings page (About > App ID)", cfg.AppID)
	}
	if !digits.MatchString(install) {
		return nil, fmt.Errorf("github installation id %q is not a number: it ends the URL of the app's installation settings", cfg.InstallationID)
	}
	key, err := parseKey(cfg.PrivateKey)
	if err != nil {
		return nil, err
	}
	a := &appAuth{t: t, appID: appID, install: install, key: key}
	a.hc = httpx.New(httpx.Config{
		Tracker:   t.name,
		Timeout:   cfg.Timeout,
		Transport: cfg.Transport,
		Logger:    cfg.Logger,
		Header:    http.Header{"Accept": {"application/vnd.github+json"}, "X-Github-Api-Version": {APIVersion}},
		Authorize: func(_ context.Context, r *http.Request) error {
			s, err := a.jwt(time.Now())
			r.Header.Set("Authorization", "Bearer "+s)
			return err
		},
		AuthHint: "check the app id and private key in Settings",
	})
	return a, nil
}

// parseKey reads the app's PEM private key, also when pasted into a one-line field (its line
// breaks turned into spaces).
func parseKey(s string) (*rsa.PrivateKey, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("no github app private key: paste the .pem file the app's settings page generated")
	}
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		// BEGIN/END lines survive; the base64 between them lost its line breaks.
		re := regexp.MustCompile(`^(-----BEGIN [A-Z ]+-----)\s*(.*?)\s*(-----END [A-Z ]+-----)$`)
		if m := re.FindStringSubmatch(strings.Join(strings.Fields(s), " ")); m != nil {
			block, _ = pem.Decode([]byte(m[1] + "\n" + strings.ReplaceAll(m[2], " ", "\n") + "\n" + m[3] + "\n"))
		}
	}
	if block == nil {
		return nil, fmt.Errorf("the github app private key is not a PEM block (-----BEGIN RSA PRIVATE KEY----- ...)")
	}
	key, err := jwt.ParseRSAPrivateKeyFromPEM(pem.EncodeToMemory(block))
	if err != nil {
		return nil, fmt.Errorf("the github app private key cannot be read: %w", err)
	}
	return key, nil
}

// jwt is the app's own token: ten minutes at most, issued a minute back for clock drift.
func (a *appAuth) jwt(now time.Time) (string, error) {
	claims := jwt.RegisteredClaims{
		Issuer:    a.appID,
		IssuedAt:  jwt.NewNumericDate(now.Add(-time.Minute)),
		ExpiresAt: jwt.NewNumericDate(now.Add(9 * time.Minute)),
	}
	return jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(a.key)
}

// token returns a valid installation token, buying a new one when the current one is due.
func (a *appAuth) token(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.current != "" && time.Until(a.expires) > 5*time.Minute {
		return a.current, nil
	}
	var out struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	err := a.hc.DoJSON(ctx, http.MethodPost, a.t.endpoint("/app/installations/"+a.install+"/access_tokens", nil), struct{}{}, &out)
	switch {
	case httpx.IsStatus(err, http.StatusNotFound):
		return "", connector.Permanentf("%s has no installation %s of app %s: check the installation id in Settings", a.t.name, a.install, a.appID)
	case httpx.IsStatus(err, http.StatusUnauthorized):
		return "", connector.Permanentf("%s refused app %s's signature (401): check the app id and that the private key is the app's current one", a.t.name, a.appID)
	case err != nil:
		return "", fmt.Errorf("get an installation token: %w", err)
	}
	a.current, a.expires = out.Token, out.ExpiresAt
	return a.current, nil
}

func (a *appAuth) authorize(ctx context.Context, r *http.Request) error {
	tok, err := a.token(ctx)
	if err != nil {
		return err
	}
	r.Header.Set("Authorization", "Bearer "+tok)
	return nil
}
