// Package quietlocale keeps Fyne from logging "Error parsing user locale" on every start when
// the environment names a locale that is not a language tag, such as Debian's default C.UTF-8.
// Fyne reads the locale while its packages initialise, before main runs, so this package does
// its work in init: cmd/tandem imports it, and it imports nothing that imports Fyne, so Go
// initialises it first.
package quietlocale

import (
	"os"
	"strings"

	"golang.org/x/text/language"
)

func init() { Fix(os.Getenv, os.Setenv) }

// Fix sets LANGUAGE, which Fyne's locale lookup reads before LANG when the locale is not
// exactly C or POSIX, to the usable languages of the environment, or "en" when there is none.
// LANG and LC_* are left alone, so dates and messages of other programs do not change.
func Fix(getenv func(string) string, setenv func(string, string) error) {
	locale := ""
	for _, v := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if locale = getenv(v); locale != "" {
			break
		}
	}
	if locale == "" || locale == "C" || locale == "POSIX" {
		return // Fyne falls back to English without complaint
	}
	wanted := locale
	if l := getenv("LANGUAGE"); l != "" {
		wanted = l
	}
	var good []string
	bad := false
	for _, l := range strings.Split(wanted, ":") {
		if Parses(l) {
			good = append(good, l)
		} else {
			bad = true
		}
	}
	if !bad {
		return
	}
	if len(good) == 0 {
		good = []string{"en"}
	}
	setenv("LANGUAGE", strings.Join(good, ":"))
}

// Parses says whether Fyne can make a language tag of a POSIX locale name such as
// "de_DE.UTF-8" (it drops the encoding and joins language and territory with a dash).
func Parses(locale string) bool {
	l, _, _ := strings.Cut(locale, ".")
	l = strings.ReplaceAll(l, "-", "_")
	lang, territory, _ := strings.Cut(l, "_")
	tag := lang
	if territory != "" {
		tag += "-" + territory
	}
	_, err := language.Parse(tag)
	return err == nil
}
