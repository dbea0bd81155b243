// A service in Go that uses the registry through NATS alone, as any language can
// (docs/API.md, "Clients in other languages"): it serves HTTP, registers itself with a lease,
// renews it by publishing on its lease subject, finds another service by listing it and
// watching its keys in the instances bucket, and deregisters on SIGTERM.
//
// Built offline from Debian's NATS client (golang-github-nats-io-go-nats-dev), GOPATH mode:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o hello-go ./examples/go
//	NATS_URL=nats://127.0.0.1:4222 SLUG=hello-go DISCOVER=user-svc ./hello-go
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
)

type instance struct {
	ID     string `json:"id"`
	URL    string `json:"url"`
	Slug   string `json:"slug"`
	Status string `json:"status"`
}

type errorBody struct {
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// call sends a request to the registry and decodes its reply; a refusal comes back as an error
// with the registry's message (the Nats-Service-Error header, and the same in the body).
func call(nc *nats.Conn, subject string, request any, reply any) error {
	body, err := json.Marshal(request)
	if err != nil {
		return err
	}
	msg, err := nc.Request(subject, body, 5*time.Second)
	if err != nil {
		return fmt.Errorf("%s: %w (is a registry running?)", subject, err)
	}
	if code := msg.Header.Get("Nats-Service-Error-Code"); code != "" {
		return fmt.Errorf("%s refused (%s): %s", subject, code, msg.Header.Get("Nats-Service-Error"))
	}
	var refused errorBody
	if json.Unmarshal(msg.Data, &refused) == nil && refused.Error != nil {
		return fmt.Errorf("%s refused (%d): %s", subject, refused.Error.Code, refused.Error.Message)
	}
	return json.Unmarshal(msg.Data, reply)
}

func main() {
	log.SetFlags(0)
	prefix := env("REGISTRY_PREFIX", "registry")
	slug := env("SLUG", "hello-go")
	discover := env("DISCOVER", "")
	ttl := 6

	// The service itself: one HTTP answer, on a free loopback port.
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatalf("cannot listen: %v", err)
	}
	url := "http://" + listener.Addr().String()
	go http.Serve(listener, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", slug)
	}))

	nc, err := nats.Connect(env("NATS_URL", nats.DefaultURL), nats.Name(slug), nats.MaxReconnects(-1))
	if err != nil {
		log.Fatalf("cannot connect to NATS: %v", err)
	}
	defer nc.Close()

	// Register with a lease: the registry expires the instance unless it is renewed within ttl.
	var registered struct {
		Instance instance `json:"instance"`
	}
	if err := call(nc, prefix+".instance.register", map[string]any{"url": url, "slug": slug, "ttlSeconds": ttl}, &registered); err != nil {
		log.Fatal(err)
	}
	id := registered.Instance.ID
	fmt.Printf("registered %s at %s\n", id, url)

	// Renew by publishing on the lease subject, every ttl/3: no request, no reply, nothing stored.
	leaseSubject := fmt.Sprintf("%s.lease.%s.%s", prefix, slug, id)
	renew := time.NewTicker(time.Duration(ttl) * time.Second / 3)
	defer renew.Stop()
	_ = nc.Publish(leaseSubject, nil)
	go func() {
		for range renew.C {
			_ = nc.Publish(leaseSubject, nil)
		}
	}()

	if discover != "" {
		// The instances of another service that take traffic, now...
		var page struct {
			Instances []instance `json:"instances"`
		}
		if err := call(nc, prefix+".instance.list", map[string]any{"slug": discover, "healthy": true}, &page); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("discovered %d instances of %s\n", len(page.Instances), discover)
		for _, i := range page.Instances {
			fmt.Printf("  %s %s %s\n", i.ID, i.URL, i.Status)
		}
		// ...and as they change: a KV watch of its keys (<slug>.<id>) in the instances bucket.
		js, err := nc.JetStream()
		if err != nil {
			log.Fatal(err)
		}
		kv, err := js.KeyValue(strings.ReplaceAll(prefix, ".", "_") + "_instances")
		if err != nil {
			log.Fatal(err)
		}
		watcher, err := kv.Watch(discover + ".>")
		if err != nil {
			log.Fatal(err)
		}
		defer watcher.Stop()
		go func() {
			caughtUp := false // the watch gives the current entries first (listed above), then nil, then changes
			for entry := range watcher.Updates() {
				if entry == nil {
					caughtUp = true
					continue
				}
				if !caughtUp {
					continue
				}
				if entry.Operation() != nats.KeyValuePut {
					fmt.Printf("gone %s\n", entry.Key())
					continue
				}
				var i instance
				if json.Unmarshal(entry.Value(), &i) != nil {
					continue // an entry this program cannot read: skipped
				}
				fmt.Printf("changed %s %s %s\n", entry.Key(), i.URL, i.Status)
			}
		}()
	}

	// Deregister on SIGTERM (and Ctrl-C), so callers stop at once rather than when the lease lapses.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	<-stop
	renew.Stop()
	var removed map[string]any
	if err := call(nc, prefix+".instance.remove", map[string]any{"id": id}, &removed); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("deregistered %s\n", id)
}
