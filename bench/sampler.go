package main

import (
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync"
	"time"
)

// sampler records the peak Go heap (bytes in heap objects, live or not yet swept) and the peak
// anonymous RSS of the process while a workload runs.
type sampler struct {
	stop     chan struct{}
	done     sync.WaitGroup
	heapPeak uint64
	livePeak uint64
	rssPeak  uint64
	samples  []metrics.Sample
	buf      []byte
}

const (
	heapMetric = "/memory/classes/heap/objects:bytes"
	// liveMetric is the heap marked live by the last GC: the peak without the garbage that GC
	// pacing lets pile up.
	liveMetric = "/gc/heap/live:bytes"
)

// settle makes the peaks of one workload independent of the ones before.
func settle() {
	runtime.GC()
	debug.FreeOSMemory()
}

func startSampler(every time.Duration) *sampler {
	s := &sampler{stop: make(chan struct{}), samples: []metrics.Sample{{Name: heapMetric}, {Name: liveMetric}}, buf: make([]byte, 0, 4096)}
	s.sample()
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return s
}

func (s *sampler) sample() {
	metrics.Read(s.samples)
	if v := s.samples[0].Value; v.Kind() == metrics.KindUint64 {
		s.heapPeak = max(s.heapPeak, v.Uint64())
	}
	if v := s.samples[1].Value; v.Kind() == metrics.KindUint64 {
		s.livePeak = max(s.livePeak, v.Uint64())
	}
	s.rssPeak = max(s.rssPeak, s.rssAnon())
}

// finish stops sampling and returns the peaks.
func (s *sampler) finish() peaks {
	close(s.stop)
	s.done.Wait()
	s.sample()
	return peaks{heap: s.heapPeak, live: s.livePeak, rss: s.rssPeak}
}

type peaks struct{ heap, live, rss uint64 }

// rssAnon reads RssAnon from /proc/self/status; 0 where there is none (not Linux).
func (s *sampler) rssAnon() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	n, _ := f.Read(s.buf[:cap(s.buf)])
	_ = f.Close()
	b := s.buf[:n]
	i := bytes.Index(b, []byte("RssAnon:"))
	if i < 0 {
		return 0
	}
	b = b[i+len("RssAnon:"):]
	if j := bytes.IndexByte(b, '\n'); j >= 0 {
		b = b[:j]
	}
	b = bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(b), []byte("kB")))
	kb, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return 0
	}
	return kb * 1024
}
