package docker

import (
	"encoding/json"
	"errors"
	"io"

	"github.com/docker/docker/pkg/stdcopy"
)

// pullError reads a pull's JSON message stream to its end and returns
// the error the Engine reports in it, if any.
func pullError(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
}

func decodeJSON(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

// demux copies a container's multiplexed output (no TTY) to w.
func demux(w io.Writer, r io.Reader) error {
	_, err := stdcopy.StdCopy(w, w, r)
	return err
}
