package agent

import (
	"github.com/tandemsync/tandem/core/rules"
	"github.com/tandemsync/tandem/core/trackers/connector"
	"github.com/tandemsync/tandem/core/trackers/github"
	"github.com/tandemsync/tandem/core/trackers/jira"
	"github.com/tandemsync/tandem/core/trackers/rt"
)

// Tracker kinds the agent knows without asking the registry.
const (
	TrackerEmbedded = "embedded"
	TrackerRT       = "rt"
)

// SettingsField describes one setting of a connector, for forms (see connector.Field).
type SettingsField = connector.Field

// ConnectorInfo is what a settings form needs to know about one connector.
type ConnectorInfo struct {
	Kind   string
	Label  string
	Remote bool // polled over the network: poll interval and request budget apply
	Fields []SettingsField
}

// registry lists every tracker the agent can sync, in the order Settings offers them.
// Adding a connector is a package under core/trackers and one line here.
var registry = []connector.Connector{
	{
		Kind:         TrackerEmbedded,
		Label:        "Embedded tracker",
		Describe:     func(connector.Values) string { return "embedded" },
		DefaultRules: func() (string, string) { return rules.Defaults(TrackerEmbedded) },
	},
	withRules(rt.Connector, func() (string, string) { return rules.Defaults(TrackerRT) }),
	github.Connector,
	jira.Connector,
}

func withRules(c connector.Connector, r func() (string, string)) connector.Connector {
	c.DefaultRules = r
	return c
}

// lookup returns the registry entry of kind ("" is the embedded tracker).
func lookup(kind string) (connector.Connector, bool) {
	if kind == "" {
		kind = TrackerEmbedded
	}
	for _, c := range registry {
		if c.Kind == kind {
			return c, true
		}
	}
	return connector.Connector{}, false
}

// kinds lists the registry's kinds, for messages.
func kinds() []string {
	out := make([]string, len(registry))
	for i, c := range registry {
		out[i] = c.Kind
	}
	return out
}

// Connectors lists the trackers the agent can sync, with their settings fields.
func (a *Agent) Connectors() []ConnectorInfo { return Registry() }

// Registry lists the trackers any agent of this build can sync, with their settings fields.
func Registry() []ConnectorInfo {
	out := make([]ConnectorInfo, len(registry))
	for i, c := range registry {
		out[i] = ConnectorInfo{Kind: c.Kind, Label: c.Label, Remote: c.Remote, Fields: c.Fields}
	}
	return out
}
