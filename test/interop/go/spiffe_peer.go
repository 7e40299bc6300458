// spiffe_peer checks meshca's SVIDs with Go's crypto/x509 and crypto/tls, the
// libraries SPIRE, go-spiffe and most mesh control planes are built on. Go's
// certificate parser and path builder are stricter than OpenSSL's in places
// (URI SANs, name constraints, RSA exponents), so a certificate both accept
// is one every common peer accepts. Written for meshca's tests; it follows
// the X509-SVID specification's rules for leaves, not any library's code.
//
//	spiffe_peer verify DIR [-at RFC3339]
//	    DIR holds svid.pem (leaf, then intermediates) and bundle.pem (roots).
//	    Prints {"spiffeId": ...} or {"error": ...}.
//	spiffe_peer mtls SERVER_DIR CLIENT_DIR SERVER_ID CLIENT_ID
//	    A crypto/tls server and client on loopback, each authorizing the
//	    other by SPIFFE ID. Prints what each side saw, read or refused.
//	spiffe_peer get URL DIR PATH
//	    An HTTPS GET over mutual TLS with DIR's SVID, trusting DIR's bundle.
//	    Prints {"status": ..., "body": ...} or {"error": ...}.
package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

type credential struct {
	chain  []*x509.Certificate
	roots  *x509.CertPool
	tlsKey tls.Certificate
}

func readCertificates(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%s: a %s block where certificates were expected", path, block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, cert)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no certificate", path)
	}
	return out, nil
}

func load(dir string, withKey bool) (*credential, error) {
	chain, err := readCertificates(filepath.Join(dir, "svid.pem"))
	if err != nil {
		return nil, err
	}
	bundle, err := readCertificates(filepath.Join(dir, "bundle.pem"))
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	for _, root := range bundle {
		roots.AddCert(root)
	}
	c := &credential{chain: chain, roots: roots}
	if withKey {
		c.tlsKey, err = tls.LoadX509KeyPair(filepath.Join(dir, "svid.pem"), filepath.Join(dir, "svid_key.pem"))
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

// The trust domain and path grammar of the SPIFFE ID specification (2.1, 2.2):
// lowercase letters, digits, dots, dashes and underscores in the trust domain;
// path segments of letters, digits, dots, dashes and underscores, none empty,
// "." or "..".
var trustDomainName = regexp.MustCompile(`^[a-z0-9._-]+$`)
var pathSegment = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

func spiffeID(u *url.URL) (string, error) {
	text := u.String()
	if u.Scheme != "spiffe" || u.Opaque != "" || u.User != nil || u.Port() != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", fmt.Errorf("URI SAN %q is not a SPIFFE ID", text)
	}
	if !trustDomainName.MatchString(u.Host) {
		return "", fmt.Errorf("URI SAN %q has an invalid trust domain", text)
	}
	if u.Path != "" {
		for _, segment := range strings.Split(u.Path[1:], "/") {
			if !pathSegment.MatchString(segment) || segment == "." || segment == ".." {
				return "", fmt.Errorf("URI SAN %q has an invalid path segment %q", text, segment)
			}
		}
	}
	return text, nil
}

// leafID applies the X509-SVID rules for leaves (sections 4.1 to 4.3, 5.2):
// exactly one URI SAN, a SPIFFE ID; not a CA; digitalSignature, and neither
// keyCertSign nor cRLSign.
func leafID(leaf *x509.Certificate) (string, error) {
	if len(leaf.URIs) != 1 {
		return "", fmt.Errorf("leaf has %d URI SANs, not one", len(leaf.URIs))
	}
	if leaf.IsCA {
		return "", errors.New("leaf is a CA")
	}
	if leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return "", errors.New("leaf lacks digitalSignature")
	}
	if leaf.KeyUsage&(x509.KeyUsageCertSign|x509.KeyUsageCRLSign) != 0 {
		return "", errors.New("leaf may sign certificates or CRLs")
	}
	return spiffeID(leaf.URIs[0])
}

// verifyChain builds a path from the leaf to one of the roots for the given
// extended key usage, then applies the leaf rules.
func verifyChain(chain []*x509.Certificate, roots *x509.CertPool, usage x509.ExtKeyUsage, at time.Time) (string, error) {
	intermediates := x509.NewCertPool()
	for _, c := range chain[1:] {
		intermediates.AddCert(c)
	}
	options := x509.VerifyOptions{Roots: roots, Intermediates: intermediates, KeyUsages: []x509.ExtKeyUsage{usage}, CurrentTime: at}
	if _, err := chain[0].Verify(options); err != nil {
		return "", err
	}
	return leafID(chain[0])
}

func printJSON(v any) {
	out, _ := json.Marshal(v)
	fmt.Println(string(out))
}

func verify(dir string, at time.Time) map[string]any {
	c, err := load(dir, false)
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	id, err := verifyChain(c.chain, c.roots, x509.ExtKeyUsageServerAuth, at)
	if err == nil {
		_, err = verifyChain(c.chain, c.roots, x509.ExtKeyUsageClientAuth, at)
	}
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	return map[string]any{"spiffeId": id}
}

// authorize is the peer check a SPIFFE-aware Go service makes: host names play
// no part, the chain must reach the bundle and the peer must be `expected`.
func authorize(roots *x509.CertPool, usage x509.ExtKeyUsage, expected string, saw *string) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("peer sent no certificate")
		}
		var chain []*x509.Certificate
		for _, der := range raw {
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				return err
			}
			chain = append(chain, cert)
		}
		id, err := verifyChain(chain, roots, usage, time.Now())
		if err != nil {
			return err
		}
		if id != expected {
			return fmt.Errorf("peer is %s, expected %s", id, expected)
		}
		*saw = id
		return nil
	}
}

func mtls(serverDir, clientDir, serverID, clientID string) map[string]any {
	server, err := load(serverDir, true)
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	client, err := load(clientDir, true)
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	var serverSaw, clientSaw string
	listener, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates:          []tls.Certificate{server.tlsKey},
		ClientAuth:            tls.RequireAnyClientCert,
		VerifyPeerCertificate: authorize(server.roots, x509.ExtKeyUsageClientAuth, clientID, &serverSaw),
		MinVersion:            tls.VersionTLS12,
	})
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	defer listener.Close()
	// The server's outcome, written by its goroutine and read once it is done.
	serverOutcome := map[string]any{}
	served := make(chan struct{})
	go func() {
		defer close(served)
		conn, err := listener.Accept()
		if err != nil {
			serverOutcome["serverError"] = err.Error()
			return
		}
		defer conn.Close()
		if err := conn.(*tls.Conn).Handshake(); err != nil {
			serverOutcome["serverError"] = err.Error()
			return
		}
		serverOutcome["serverSaw"] = serverSaw
		io.WriteString(conn, "hello from go\n")
	}()
	outcome := map[string]any{}
	conn, err := tls.Dial("tcp", listener.Addr().String(), &tls.Config{
		Certificates: []tls.Certificate{client.tlsKey},
		// The SPIFFE check below replaces host name verification, as go-spiffe's tlsconfig does.
		InsecureSkipVerify:    true,
		VerifyPeerCertificate: authorize(client.roots, x509.ExtKeyUsageServerAuth, serverID, &clientSaw),
		MinVersion:            tls.VersionTLS12,
	})
	if err != nil {
		outcome["clientError"] = err.Error()
	} else {
		outcome["clientSaw"] = clientSaw
		// Under TLS 1.3 a server that refuses the client's certificate says so after the client's handshake is done: on this read.
		line, err := bufio.NewReader(conn).ReadString('\n')
		outcome["clientRead"] = line
		if err != nil {
			outcome["clientReadError"] = err.Error()
		}
		conn.Close()
	}
	<-served
	for k, v := range serverOutcome {
		outcome[k] = v
	}
	return outcome
}

func get(rawURL, dir, path string) map[string]any {
	c, err := load(dir, true)
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	transport := &http.Transport{TLSClientConfig: &tls.Config{
		Certificates: []tls.Certificate{c.tlsKey},
		RootCAs:      c.roots,
		ServerName:   u.Hostname(),
		MinVersion:   tls.VersionTLS12,
	}}
	response, err := (&http.Client{Transport: transport, Timeout: 20 * time.Second}).Get(rawURL + path)
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	defer response.Body.Close()
	body, _ := io.ReadAll(response.Body)
	return map[string]any{"status": response.StatusCode, "body": string(body)}
}

func main() {
	args := os.Args[1:]
	switch {
	case len(args) == 2 && args[0] == "verify":
		printJSON(verify(args[1], time.Now()))
	case len(args) == 4 && args[0] == "verify" && args[2] == "-at":
		at, err := time.Parse(time.RFC3339, args[3])
		if err != nil {
			printJSON(map[string]any{"error": err.Error()})
			return
		}
		printJSON(verify(args[1], at))
	case len(args) == 5 && args[0] == "mtls":
		printJSON(mtls(args[1], args[2], args[3], args[4]))
	case len(args) == 4 && args[0] == "get":
		printJSON(get(args[1], args[2], args[3]))
	default:
		fmt.Fprintln(os.Stderr, "usage: spiffe_peer verify DIR [-at RFC3339] | mtls SERVER_DIR CLIENT_DIR SERVER_ID CLIENT_ID | get URL DIR PATH")
		os.Exit(64)
	}
}
