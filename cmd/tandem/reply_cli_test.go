package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/agent"
)

// tandemBoth runs one command that must succeed and returns its stdout and stderr.
func tandemBoth(t *testing.T, bin string, args ...string) (stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("tandem %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String(), errb.String()
}

// A firewalled agent (tandem serve --listen off) invites from the command line: the invite
// explains the two steps, accept on the partner prints the reply code, and accept of the reply
// on the firewalled side pairs them.
func TestCLIFirewalledInviterPairsByReply(t *testing.T) {
	needKeychain(t)
	bin, err := buildTandem()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	blue, red := filepath.Join(root, "blue"), filepath.Join(root, "red")
	serveAgent(t, bin, blue, "Blue")
	serveAgentWith(t, bin, red, "Red", nil, "--listen", "off")

	code, explain := tandemBoth(t, bin, "invite", "--data-dir", red, "--expires", "2h")
	code = strings.TrimSpace(code)
	if !strings.HasPrefix(code, "tandem1-") || !strings.Contains(explain, "two steps") || !strings.Contains(explain, "tandem accept REPLY-CODE") {
		t.Fatalf("invite on the firewalled agent printed %q, explained:\n%s", code, explain)
	}
	if msg := tandem(t, bin, true, "accept", code, "--data-dir", red); !strings.Contains(msg, "never pairs with itself") {
		t.Errorf("red accepting its own code: %q", msg)
	}
	reply, explain := tandemBoth(t, bin, "accept", code, "--data-dir", blue)
	reply = strings.TrimSpace(reply)
	if !strings.HasPrefix(reply, "tandemreply1-") || !strings.Contains(explain, "send this reply code to Red's operator") {
		t.Fatalf("accept on blue printed %q, explained:\n%s", reply, explain)
	}
	list := tandem(t, bin, false, "connections", "--data-dir", blue)
	if !strings.Contains(list, "Waiting for the partner to complete pairing") {
		t.Errorf("connections at blue while it waits:\n%s", list)
	}
	if msg := tandem(t, bin, true, "accept", reply, "--data-dir", blue); !strings.Contains(msg, "send it to Red's operator") {
		t.Errorf("blue accepting its own reply code: %q", msg)
	}
	if msg := tandem(t, bin, true, "accept", reply[:len(reply)-5], "--data-dir", red); !strings.Contains(msg, "reply code is damaged") {
		t.Errorf("a truncated reply code: %q", msg)
	}

	out := tandem(t, bin, false, "accept", reply, "--data-dir", red)
	if !strings.Contains(out, "Paired with Blue") || !strings.Contains(out, "pulls the partner's events") {
		t.Fatalf("accept of the reply on red:\n%s", out)
	}
	var conns []agent.ConnectionInfo
	fromJSON(t, tandem(t, bin, false, "connections", "--json", "--data-dir", blue), &conns)
	if len(conns) != 1 || conns[0].PartnerName != "Red" || conns[0].State != agent.StateActive || conns[0].PartnerURL != "" {
		t.Fatalf("blue's connections after completion: %+v; want Red, active, never dialled", conns)
	}
	// Red pulls from blue: red shows blue's status as it hears it.
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(tandem(t, bin, false, "connections", "--data-dir", red), "Active") {
		if time.Now().After(deadline) {
			t.Fatalf("red's connection:\n%s", tandem(t, bin, false, "connections", "--data-dir", red))
		}
		time.Sleep(200 * time.Millisecond)
	}

	// A pairing that waits can be cancelled from the command line.
	code2, _ := tandemBoth(t, bin, "invite", "--data-dir", red)
	green := filepath.Join(root, "green")
	serveAgent(t, bin, green, "Green")
	reply2, _ := tandemBoth(t, bin, "accept", strings.TrimSpace(code2), "--data-dir", green)
	if out := tandem(t, bin, false, "connections", "cancel", "Red", "--data-dir", green); !strings.Contains(out, "Cancelled the pairing that waited for Red") {
		t.Errorf("connections cancel:\n%s", out)
	}
	if msg := tandem(t, bin, true, "accept", strings.TrimSpace(reply2), "--data-dir", red); !strings.Contains(msg, "no longer waits for this pairing") {
		t.Errorf("the reply of a cancelled pairing: %q", msg)
	}
}
