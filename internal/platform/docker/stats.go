package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
)

// statsWait bounds how long Usage waits for a new stream's first sample.
const statsWait = 3 * time.Second

// statsStream holds the latest sample of one container's stats stream,
// which ends when the container stops or the platform closes.
type statsStream struct {
	mu   sync.Mutex
	last container.StatsResponse
	err  error         // why the stream ended, once done is closed
	have chan struct{} // closed at the first sample
	done chan struct{} // closed when the stream ended
}

// watchStats returns the container's stream, starting it if none runs.
func (p *Platform) watchStats(id string) *statsStream {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.streams[id]; ok {
		return st
	}
	st := &statsStream{have: make(chan struct{}), done: make(chan struct{})}
	p.streams[id] = st
	p.wg.Go(func() {
		err := p.stream(id, st)
		st.mu.Lock()
		st.err = err
		st.mu.Unlock()
		close(st.done)
		p.mu.Lock()
		delete(p.streams, id)
		p.mu.Unlock()
	})
	return st
}

// stream reads the container's stats stream into st until it ends.
func (p *Platform) stream(id string, st *statsStream) error {
	r, err := p.cli.ContainerStats(p.ctx, id, true)
	if err != nil {
		return err
	}
	defer r.Body.Close()
	dec := json.NewDecoder(r.Body)
	for first := true; ; first = false {
		var s container.StatsResponse
		if err := dec.Decode(&s); err != nil {
			return fmt.Errorf("stats stream ended: %w", err)
		}
		st.mu.Lock()
		st.last = s
		st.mu.Unlock()
		if first {
			close(st.have)
		}
	}
}

// sample returns the latest sample, waiting up to statsWait for the first.
func (st *statsStream) sample(ctx context.Context) (container.StatsResponse, error) {
	t := time.NewTimer(statsWait)
	defer t.Stop()
	select {
	case <-st.have:
	case <-st.done:
		st.mu.Lock()
		defer st.mu.Unlock()
		if st.err == nil {
			return st.last, errors.New("stats stream ended")
		}
		return st.last, st.err
	case <-t.C:
		return container.StatsResponse{}, fmt.Errorf("no stats sample within %s", statsWait)
	case <-ctx.Done():
		return container.StatsResponse{}, ctx.Err()
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.last, nil
}

// Close ends the stats streams and waits for them. The containers run on.
func (p *Platform) Close() {
	p.cancel()
	p.wg.Wait()
}
