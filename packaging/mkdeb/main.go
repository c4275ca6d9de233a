// Command mkdeb builds Tandem's Debian package (make deb): bin/tandem_<version>_<arch>.deb.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/tandemsync/tandem/packaging"
)

func main() {
	var o packaging.Options
	flag.StringVar(&o.Binary, "bin", "bin/tandem", "the tandem binary to package")
	flag.StringVar(&o.OutDir, "out", "bin", "the directory the .deb goes to")
	flag.StringVar(&o.Version, "version", "", "the package version (default: FyneApp.toml's)")
	flag.Parse()
	path, err := packaging.Deb(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkdeb:", err)
		os.Exit(1)
	}
	fmt.Println(path)
}
