package limit

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/pertitle/pertitle/pkg/problem"
)

// RetryAfter sets the Retry-After header to d in whole seconds, rounded up (at
// least 1). A wait of a day or more (Never) sets nothing: no retry helps soon.
func RetryAfter(h http.Header, d time.Duration) {
	if d >= 24*time.Hour {
		return
	}
	h.Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(d.Seconds())))))
}

// TooMany answers 429 Too Many Requests with Retry-After and a problem details
// body of type problem.RateLimited.
func TooMany(w http.ResponseWriter, wait time.Duration, msg string) {
	RetryAfter(w.Header(), wait)
	problem.Write(w, http.StatusTooManyRequests, problem.RateLimited, msg)
}

// Addresses finds a request's client address. Behind a reverse proxy or load
// balancer every request comes from the proxy, so requests from a Trusted
// network are attributed to the address that proxy put in X-Forwarded-For (the
// nearest one not itself trusted).
type Addresses struct {
	Trusted []netip.Prefix
}

// ParseTrusted reads a comma-separated list of CIDR prefixes or addresses.
func ParseTrusted(s string) (Addresses, error) {
	var a Addresses
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			ip, err := netip.ParseAddr(f)
			if err != nil {
				return Addresses{}, fmt.Errorf("%q is not an address or CIDR prefix", f)
			}
			f = netip.PrefixFrom(ip, ip.BitLen()).String()
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return Addresses{}, fmt.Errorf("%q is not an address or CIDR prefix", f)
		}
		a.Trusted = append(a.Trusted, p.Masked())
	}
	return a, nil
}

func (a Addresses) trusted(ip netip.Addr) bool {
	for _, p := range a.Trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Client returns the key of r's client address: the address itself for IPv4, its
// /64 network for IPv6 (one subscriber holds a whole /64, so single IPv6
// addresses would give one client endless fresh buckets).
func (a Addresses) Client(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if a.trusted(ip) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break // a malformed hop: trust nothing further left
			}
			ip = hop.Unmap()
			if !a.trusted(ip) {
				break
			}
		}
	}
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
