package ui

import (
	"context"
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/audit"
)

// agentSettings is the part of Settings about this agent itself: the name partners see, where
// it listens and the URL partners dial, where its secrets are kept, and its audit log.
type agentSettings struct {
	u      *UI
	loaded bool

	name, listen, url *widget.Entry
	prefix            *widget.Entry // the embedded tracker's key prefix for new items
	secrets           *widget.Label
	save              *widget.Button
	auditLine         *widget.Label
	auditButton       *widget.Button
}

func (s *agentSettings) build(u *UI) fyne.CanvasObject {
	s.u = u
	s.name = widget.NewEntry()
	s.listen = widget.NewEntry()
	s.listen.SetPlaceHolder(`host:port, e.g. 0.0.0.0:7443, or "off" to accept no connections`)
	s.url = widget.NewEntry()
	s.url.SetPlaceHolder("https://tandem.example.com:7443 (when partners reach it under another name)")
	s.prefix = widget.NewEntry()
	s.prefix.SetPlaceHolder("e.g. ACME: new items are ACME-1, ACME-2, …")
	s.secrets = widget.NewLabel("…")
	s.secrets.Wrapping = fyne.TextWrapWord
	s.save = widget.NewButtonWithIcon("Save agent", theme.DocumentSaveIcon(), s.saveAddress)
	s.save.Disable()
	s.auditLine = widget.NewLabel("The audit log has not been checked yet.")
	s.auditLine.Wrapping = fyne.TextWrapWord
	s.auditButton = widget.NewButtonWithIcon("Check the audit log", theme.ConfirmIcon(), s.checkAudit)
	note := widget.NewLabel("A new listen address or URL takes effect when the agent starts next; partners paired already keep the URL they learned. " +
		"A new key prefix applies to new items of the embedded tracker; items made before keep their keys, which partners know them by.")
	note.Wrapping = fyne.TextWrapWord
	note.Importance = widget.LowImportance
	return container.NewVBox(
		widget.NewSeparator(),
		widget.NewLabelWithStyle("This agent", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		widget.NewForm(
			widget.NewFormItem("Name partners see", s.name),
			widget.NewFormItem("Listen on", s.listen),
			widget.NewFormItem("Public URL", s.url),
			widget.NewFormItem("Item key prefix", s.prefix),
			widget.NewFormItem("Secrets are kept in", s.secrets),
		),
		note,
		container.NewHBox(s.save),
		widget.NewLabelWithStyle("Audit log", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		s.auditLine,
		container.NewHBox(s.auditButton),
	)
}

// shown loads the agent's address and checks the audit log when Settings opens.
func (s *agentSettings) shown() {
	if !s.loaded {
		var info agent.AgentInfo
		s.u.call("read the agent's address", func(ctx context.Context) (err error) {
			info, err = s.u.agent.Info(ctx)
			return err
		}, func(err error) {
			if err != nil {
				return
			}
			s.loaded = true
			s.name.SetText(info.Address.Name)
			s.listen.SetText(info.Address.Listen)
			s.url.SetText(info.Address.URL)
			s.secrets.SetText(info.Secrets)
			s.prefix.SetText(s.u.agent.KeyPrefix())
			s.save.Enable()
		})
	}
	s.checkAudit()
}

func (s *agentSettings) saveAddress() {
	ad := agent.Address{Name: strings.TrimSpace(s.name.Text), Listen: strings.TrimSpace(s.listen.Text), URL: strings.TrimSpace(s.url.Text)}
	prefix := strings.ToUpper(strings.TrimSpace(s.prefix.Text))
	newPrefix := prefix != "" && prefix != s.u.agent.KeyPrefix()
	s.save.Disable()
	s.u.call("save the agent's settings", func(ctx context.Context) error {
		if newPrefix {
			if err := s.u.agent.SetKeyPrefix(ctx, prefix); err != nil {
				return err
			}
		}
		return s.u.agent.SetAddress(ctx, ad)
	}, func(err error) {
		s.save.Enable()
		s.prefix.SetText(s.u.agent.KeyPrefix())
		s.u.tracker.showPrefix(s.u.agent.KeyPrefix())
		if err == nil {
			msg := "Saved. A new listen address or URL takes effect when the agent starts next."
			if newPrefix {
				msg = fmt.Sprintf("Saved. New items' keys start with %s-; a new listen address or URL takes effect when the agent starts next.", prefix)
			}
			s.u.setStatus(msg, false)
		}
	})
}

// checkAudit verifies the audit log's chain and says where it breaks.
func (s *agentSettings) checkAudit() {
	s.auditButton.Disable()
	var rep audit.Report
	s.u.call("check the audit log", func(ctx context.Context) (err error) {
		rep, err = s.u.agent.VerifyAudit(ctx)
		return err
	}, func(err error) {
		s.auditButton.Enable()
		if err != nil {
			return
		}
		s.showAudit(rep)
	})
}

func (s *agentSettings) showAudit(rep audit.Report) {
	s.auditLine.SetText(rep.String())
	s.auditLine.Importance = widget.SuccessImportance
	if !rep.OK {
		s.auditLine.Importance = widget.DangerImportance
		s.u.setStatus(fmt.Sprintf("Audit log: %s", rep.String()), true)
	}
	s.auditLine.Refresh()
}
