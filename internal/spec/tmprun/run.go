package main

import (
	"fmt"
	"os"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

func main() {
	for _, f := range os.Args[1:] {
		_, err := spec.Load(f)
		fmt.Printf("== %s\n%v\n", f, err)
	}
}
