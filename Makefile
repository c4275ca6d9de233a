# Tandem: `make run` to see it, `make test` to check it. Targets install what is missing first.

PKGS := gcc pkg-config libgl1-mesa-dev xorg-dev xvfb imagemagick xdotool dbus gnome-keyring \
        dbus-x11 request-tracker5 rt5-db-sqlite
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BIN  := bin/tandem

.PHONY: run app test fuzz crash chaos bench deb tarxz deps build $(BIN)

run: deps build
	@if [ -n "$$DISPLAY" ]; then \
		$(BIN) demo; \
	else \
		echo "No DISPLAY: running the demo headless (set DISPLAY to see the two windows)."; \
		$(BIN) demo --headless; \
	fi

app: deps build
	$(BIN)

build: $(BIN)

# Fyne needs cgo (OpenGL, X11); the first build takes a few minutes.
$(BIN):
	CGO_ENABLED=1 go build -o $(BIN) ./cmd/tandem

# The keychain tests need a secret service: a private D-Bus session with an unlocked
# gnome-keyring whose keyring files live in a throwaway directory. A keyring in the user's own
# data directory would be shared by every run at once: each daemon reloads the file when another
# one writes it, and keys a test just stored vanish.
KEYRING := keyring=$$(mktemp -d); trap "rm -rf $$keyring" EXIT; \
	echo -n pw | XDG_DATA_HOME=$$keyring gnome-keyring-daemon --unlock --components=secrets >/dev/null

# Every group runs even if an earlier one fails; the exit status says if any did.
test: deps
	go vet ./...
	dbus-run-session -- sh -c ' \
		$(KEYRING); \
		export TANDEM_REQUIRE_KEYCHAIN=1 TANDEM_REQUIRE_RT=1; rc=0; \
		go test -race -timeout 30m ./core/... || rc=1; \
		CGO_ENABLED=0 go test ./ui/... || rc=1; \
		CGO_ENABLED=1 TANDEM_REQUIRE_DISPLAY=1 go test -timeout 30m ./cmd/... || rc=1; \
		CGO_ENABLED=1 TANDEM_REQUIRE_PACKAGING=1 go test ./packaging/... || rc=1; \
		$(MAKE) --no-print-directory fuzz FUZZTIME=$(TEST_FUZZTIME) || rc=1; \
		exit $$rc'

# The fuzz targets: the invitation-code and reply-code parsers, the event batch decoder, the token verifier,
# the control-channel request decoder, the audit-log verifier, the queue record, twin and stored item decoders and the canonical item encoding. make test runs each briefly;
# make fuzz runs each longer. The budgets count executions ("Nx"), not time: Go 1.26's fuzz
# coordinator can report a spurious "context deadline exceeded" when a time budget ends on a
# loaded machine (go.dev/issue/75804, fixed in Go 1.27).
FUZZ_TARGETS := core/pairing:FuzzParseCode core/pairing:FuzzParseReply core/transport:FuzzBatchDecoder core/transport:FuzzTokenVerifier \
                core/control:FuzzDecodeRequest core/audit:FuzzVerify core/queue:FuzzRecord core/item:FuzzCanonical core/engine:FuzzTwin core/store:FuzzItem
FUZZTIME ?= 500000x
TEST_FUZZTIME := 3000x

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name in ./$$pkg for $(FUZZTIME)"; \
		go test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) ./$$pkg || exit 1; \
	done

# The crash test: two tandem serve processes SIGKILLed at random while drivers change both
# sides; make test runs it among the cmd tests, make crash alone at 20 kills over 2,000
# changes, make chaos at 1,000 over 100,000 (hours on 2 cores).
crash: deps
	dbus-run-session -- sh -c ' \
		$(KEYRING); \
		export TANDEM_REQUIRE_KEYCHAIN=1 TANDEM_REQUIRE_RT=1; \
		CGO_ENABLED=1 go test -run TestCrashKills -timeout 60m -v ./cmd/tandem'

chaos: deps
	dbus-run-session -- sh -c ' \
		$(KEYRING); \
		export TANDEM_REQUIRE_KEYCHAIN=1 TANDEM_REQUIRE_RT=1 TANDEM_CHAOS_KILLS=1000 TANDEM_CHAOS_CHANGES=100000; \
		CGO_ENABLED=1 go test -run TestCrashKills -timeout 0 -v ./cmd/tandem'

bench: build
	go test -run '^$$' -bench . ./core/...
	CGO_ENABLED=0 go test -run '^$$' -bench 'QueueFirstRows|TrackerRead' ./ui
	dbus-run-session -- sh -c '$(KEYRING); \
		go test -run "^$$" -bench AppAtScale -benchtime 1x -timeout 20m ./cmd/tandem'
	$(BIN) bench

# A Debian package from bin/tandem (packaging/nfpm.yaml, built with nFPM as a library): the
# binary, the desktop entry and icon, and systemd units for tandem serve (a system service with
# its own user and /var/lib/tandem, and a user service). Prints bin/tandem_<version>_<arch>.deb.
deb: build
	go run ./packaging/mkdeb

# The Linux .tar.xz the Fyne way (fyne package from fyne.io/tools): bin/Tandem.tar.xz, with a
# Makefile that installs it under /usr/local.
FYNE := go run fyne.io/tools/cmd/fyne@v1.7.4
tarxz: deps
	cd cmd/tandem && $(FYNE) package --os linux --release --name Tandem --app-id io.tandemsync.tandem \
		--app-version $$(sed -n 's/^ *Version *= *"\(.*\)"/\1/p' ../../FyneApp.toml) --icon ../../assets/icon.png
	mkdir -p bin && mv cmd/tandem/Tandem.tar.xz bin/ && rm -f cmd/tandem/tandem cmd/tandem/Tandem
	@echo bin/Tandem.tar.xz

# Installs only what dpkg does not already have, so a ready machine installs nothing.
deps:
	@missing=$$(for p in $(PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing:" $$missing; \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi
	@if ! locale -a 2>/dev/null | grep -qi '^en_US\.utf-\?8$$' && command -v locale-gen >/dev/null; then \
		echo "Generating the en_US.UTF-8 locale"; \
		$(SUDO) sed -i 's/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 UTF-8/' /etc/locale.gen && $(SUDO) locale-gen >/dev/null; \
	fi
