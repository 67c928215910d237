// Package realip finds a client's address behind trusted reverse proxies.
//
// X-Forwarded-For is a list anyone can start: a client may send
// "X-Forwarded-For: 1.2.3.4" itself, and a proxy such as nginx
// ($proxy_add_x_forwarded_for) appends the address it saw to whatever
// arrived. So the header is read only when the direct peer is a trusted
// proxy, and from the right: each trusted hop is skipped, and the first
// address that is not a trusted proxy is the client. An entry that does not
// parse stops the walk; the answer is then the last trusted hop, which is
// never a value the client chose. List only proxies as trusted, not the
// networks clients come from: the walk goes on past a trusted address into
// what the client sent. With no trusted proxies (the default) the
// header is ignored and the peer address is the client.
//
// Usage:
//
//	trusted, err := realip.ParsePrefixes("127.0.0.1, 10.0.0.0/8") // the -trusted-proxies flag
//	r := realip.New(trusted)
//	addr := r.ClientAddr(conn.RemoteAddr().String(), req.Header.Values("X-Forwarded-For"))
//	log.Info("connected", zap.Stringer("addr", addr))
package realip
