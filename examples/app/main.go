package main

import (
	"os"

	"github.com/bluejay-deploy/bluejay/internal/sampleapp"
)

func main() {
	os.Exit(sampleapp.Main(os.Args[1:]))
}
