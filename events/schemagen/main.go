// Command schemagen writes events/schemas/*.json from the payload structs.
// Run it through `go generate ./events`.
package main

import (
	"log"
	"os"

	"github.com/veil-privacy/veil/events"
)

func main() {
	for _, t := range events.Types() {
		b, err := events.GenerateSchema(t)
		if err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(events.SchemaFile(t), b, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
