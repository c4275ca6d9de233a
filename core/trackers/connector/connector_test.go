package connector

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/item"
)

var sample = Connector{
	Kind: "x", Label: "X",
	Fields: []Field{
		{Key: "url", Label: "URL", Required: true, Placeholder: "https://x.example"},
		{Key: "auth", Label: "Sign in with", Kind: Choice, Choices: []string{"token", "password"}, Default: "token"},
		{Key: "user", Label: "User name", Required: true, ShowWhen: &Condition{Key: "auth", Values: []string{"password"}}},
		{Key: "secret", Label: "Token or password", Kind: Secret, Required: true},
	},
}

func TestValidate(t *testing.T) {
	kept := func(string) bool { return true }
	tests := []struct {
		values, secrets Values
		kept            func(string) bool
		want            string // "" for valid
	}{
		{Values{"url": "https://x", "auth": "token"}, Values{"secret": "s"}, nil, ""},
		{Values{"url": "https://x", "auth": "token"}, nil, kept, ""},
		{Values{"url": "https://x", "auth": "token"}, nil, nil, "X: enter the token or password"},
		{Values{"auth": "token"}, Values{"secret": "s"}, nil, "X: url is required, e.g. https://x.example"},
		{Values{"url": "https://x", "auth": "password"}, Values{"secret": "s"}, nil, "X: user name is required"},
		{Values{"url": "https://x", "auth": "token"}, Values{"secret": "s"}, nil, ""}, // user not needed with a token
		{Values{"url": "https://x", "auth": "magic"}, Values{"secret": "s"}, nil, `X: sign in with "magic" is not one of token, password`},
	}
	for i, tc := range tests {
		err := sample.Validate(tc.values, tc.secrets, tc.kept)
		if got := fmt.Sprint(err); tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(got, tc.want)) {
			t.Errorf("#%d Validate(%v): %v, want %q", i, tc.values, err, tc.want)
		}
	}
	if got := (Values{"q": " a, ,b ,"}).List("q"); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("List: %q", got)
	}
}

func TestAuthorLine(t *testing.T) {
	for _, u := range []item.User{{Name: "Alice Smith", Email: "alice@example.com"}, {Name: "Bob [ops] <x>"}, {ID: "carol"}, {}} {
		body := WithAuthor(u, "line one\nline two")
		got, rest, ok := ParseAuthor(body)
		want := u.Name
		if want == "" {
			want = u.ID
		}
		if want == "" {
			want = "someone"
		}
		want = strings.NewReplacer("]", ")", "<", "(", ">", ")").Replace(want)
		if !ok || rest != "line one\nline two" || got.Name != want || got.Email != u.Email {
			t.Errorf("%+v: %q read back as %+v %q %v", u, body, got, rest, ok)
		}
	}
	if _, _, ok := ParseAuthor("[not a marker]\ntext"); ok {
		t.Error("a plain bracketed line was taken for the author line")
	}
}

func TestErrorContract(t *testing.T) {
	base := errors.New("bad value")
	p := fmt.Errorf("write: %w", Permanent(base))
	if !IsPermanent(p) || !errors.Is(p, base) || IsPermanent(base) || Permanent(nil) != nil {
		t.Errorf("Permanent: IsPermanent %v, Is %v", IsPermanent(p), errors.Is(p, base))
	}
	if RetryAfter(p) != 0 || RetryAfter(fmt.Errorf("x: %w", waitErr{})) != 3*time.Second {
		t.Error("RetryAfter")
	}
}

type waitErr struct{}

func (waitErr) Error() string             { return "wait" }
func (waitErr) RetryAfter() time.Duration { return 3 * time.Second }

func TestApplyEachAndPostedBefore(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var done []string
	res, err := ApplyEach(ctx, []engine.Write{{Key: "a"}, {Key: "b"}, {Key: "c"}}, func(_ context.Context, w engine.Write) engine.WriteResult {
		done = append(done, w.Key)
		if w.Key == "b" {
			cancel()
			return engine.WriteResult{Key: w.Key, Err: errors.New("b failed")}
		}
		return engine.WriteResult{Key: w.Key}
	})
	if !slices.Equal(done, []string{"a", "b"}) || res[1].Err == nil || !errors.Is(res[2].Err, context.Canceled) || !errors.Is(err, context.Canceled) {
		t.Errorf("ApplyEach: ran %v, results %+v, %v", done, res, err)
	}
	added := []item.Comment{{Author: item.User{Name: "Pat"}, Body: "hi"}, {Author: item.User{Name: "Pat"}, Body: "hi"}, {Author: item.User{Name: "Pat"}, Body: "new"}}
	onItem := []item.Comment{{ID: "1", Author: item.User{Name: "Pat"}, Body: "hi"}, {ID: "2", Author: item.User{Name: "Pat"}, Body: "hi"}, {ID: "3", Author: item.User{Name: "Pat"}, Body: "hi"}}
	got := PostedBefore(added, onItem, map[string]bool{"1": true})
	if fmt.Sprint(got) != "map[0:2 1:3]" {
		t.Errorf("PostedBefore: %v, want the two unlinked copies for the two repeated comments and none for the new one", got)
	}
}
