package agent

import (
	"context"

	"github.com/tandemsync/tandem/core/control"
)

// TrackerView is the tracker settings as `tandem tracker` shows them, with which secret fields
// the keychain holds (never their values).
type TrackerView struct {
	Settings TrackerSettings `json:"settings"`
	Stored   map[string]bool `json:"stored,omitempty"`
}

// TrackerRequest is tracker settings and the secrets typed for them (over the control socket,
// which only the agent's own OS user can open).
type TrackerRequest struct {
	Settings TrackerSettings   `json:"settings"`
	Secrets  map[string]string `json:"secrets,omitempty"`
}

// trackerView is the current settings and which of their secrets are stored.
func (a *Agent) trackerView(ctx context.Context, _ None) (TrackerView, error) {
	s, err := a.TrackerSettings(ctx)
	if err != nil {
		return TrackerView{}, err
	}
	v := TrackerView{Settings: s, Stored: map[string]bool{}}
	if c, ok := lookup(s.Kind); ok {
		for _, f := range c.Fields {
			if f.IsSecret() {
				v.Stored[f.Key] = a.HasTrackerSecret(ctx, s.Kind, f.Key)
			}
		}
	}
	return v, nil
}

func (a *Agent) handleTracker(m *control.Mux) {
	control.Handle(m, "tracker.get", a.trackerView)
	control.Handle(m, "tracker.test", func(ctx context.Context, req TrackerRequest) (TrackerCheck, error) {
		return a.TestTracker(ctx, req.Settings, req.Secrets), nil
	})
	control.Handle(m, "tracker.set", func(ctx context.Context, req TrackerRequest) (None, error) {
		if err := a.SaveTrackerSettings(ctx, req.Settings, req.Secrets); err != nil {
			return None{}, control.WithCode(err, control.CodeInvalid)
		}
		return None{}, nil
	})
}
