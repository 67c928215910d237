package loadgen

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chatplatform/chat/internal/loadgen/wire"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Defaults of Config. cmd/loadgen uses them as flag defaults, so the help
// text and the engine cannot disagree.
const (
	DefaultURL         = "ws://127.0.0.1:8080"
	DefaultClients     = 100
	DefaultRamp        = 1000.0 // connections per second
	DefaultRoom        = "loadgen"
	DefaultRooms       = 1
	DefaultSenders     = 10 // capped at Clients when not set explicitly
	DefaultRate        = 1.0
	DefaultSize        = 128 // bytes of message text
	DefaultDuration    = 30 * time.Second
	DefaultSettle      = 2 * time.Second
	DefaultDialTimeout = 10 * time.Second // TCP connect plus WebSocket handshake
	DefaultBackoff     = 100 * time.Millisecond

	// MaxBackoff caps the doubling of a reconnecting client's wait: with
	// DefaultBackoff, 100ms, 200ms, ... 3.2s, then 5s between attempts.
	MaxBackoff = 5 * time.Second

	// MaxSize is the largest -size accepted; the server's default message
	// limit is 4096 bytes, so larger sizes only make sense against a server
	// configured for them.
	MaxSize = 1 << 20
)

// Config describes one load test. Zero values of the numeric fields are
// replaced by the Default constants, except Churn (zero means no churn)
// and Senders (see its comment).
type Config struct {
	// URL is the server's base WebSocket URL (ws://); clients connect to
	// URL + "/ws/{client_id}?room=NAME". URLs, when set, replaces it.
	URL string
	// URLs are several base URLs (the nodes of a cluster): client i
	// connects to URLs[i % len(URLs)], and a reconnecting client tries the
	// next one. Empty means just URL.
	URLs []string
	// Clients is the number of simulated clients. With Stages, zero means
	// the largest stage target.
	Clients int
	// Stages, when set, replace Ramp and Duration with a load shape: each
	// stage moves the number of connected clients linearly from the
	// previous stage's target (0 at the start) to its own over its
	// duration; senders send throughout.
	Stages []Stage
	// Ramp is how many connections are opened per second.
	Ramp float64
	// TokenSecretFile, when set, is the server's -auth-secret-file: each
	// client sends a token minted from it (HS256, sub its client id, rooms
	// its room, valid for the whole run) as ?token=.
	TokenSecretFile string `json:",omitempty"`
	// Room is the room name, or the prefix of the names when Rooms > 1:
	// Room-0 .. Room-(Rooms-1). Client i joins room i % Rooms.
	Room  string
	Rooms int
	// Senders is how many clients send messages (clients 0..Senders-1, so
	// they spread over the rooms). Zero means min(DefaultSenders, Clients);
	// use NoSenders for a connect-only test.
	Senders int
	// Rate is the messages per second of each sender; gaps between
	// messages are jittered uniformly by ±50% around 1/Rate.
	Rate float64
	// RoomRates, when set, gives the senders of room k the rate
	// RoomRates[k] instead of Rate (one value per room; 0 makes a room's
	// senders silent, an idle room).
	RoomRates []float64
	// Size is the length of each message text in bytes (at least
	// wire.MinPayload; shorter sizes are padded to it).
	Size int
	// Duration is how long senders send, counted from the end of the ramp.
	Duration time.Duration
	// Settle is how long deliveries may take: the run waits up to Settle
	// after the last send, and a client leaving under churn keeps reading
	// for Settle after it decides to leave.
	Settle time.Duration
	// Churn is how many non-sending clients per second disconnect and
	// reconnect during the sending phase.
	Churn float64
	// ChurnMode is how a churning client goes: ChurnLeave (the default)
	// leaves with a close frame and joins again afresh; ChurnCut drops its
	// TCP connection without a word, as a network cut would, and resumes
	// (since and epoch), so that the server must replay what it missed.
	ChurnMode string
	// Reconnect makes a client whose connection is lost (closed by the
	// server, reset, ended) reconnect with exponential backoff from
	// Backoff, jittered, and resume where it was (since and epoch). With
	// the chat protocol, senders then send chat.v1 message commands with
	// ids, and a resumed sender sends again what did not come back to it.
	Reconnect bool
	// Backoff is a reconnecting client's first wait; it doubles with each
	// failed attempt up to MaxBackoff.
	Backoff time.Duration
	// SourceIPs are local addresses to connect from, used round-robin by
	// client index. Empty means automatic: the kernel's choice, or
	// 127.0.0.x when the server is on loopback and one address has too few
	// ports for the clients.
	SourceIPs []string
	// ClientsPerProcess caps the clients one process simulates; zero means
	// the file-descriptor limit minus headroom. Past the cap the run is
	// spread over worker processes running this same binary (see
	// RunWorker).
	ClientsPerProcess int
	// DialTimeout bounds the TCP connect plus the WebSocket handshake.
	DialTimeout time.Duration
	// Protocol is what the server speaks: ProtocolChat (the default: this
	// platform's JSON events on /ws/{client_id}) or ProtocolRaw (a server
	// such as gorilla/websocket's chat example: one room on URL + "/ws",
	// and every text frame is raw message text, several separated by
	// newlines, each the whole payload; no welcome, so a client counts as
	// joined when its handshake completes).
	Protocol string `json:",omitempty"`

	// Logger receives diagnostics; nil means zap.NewNop().
	Logger *zap.Logger `json:"-"`
	// Registerer receives the loadgen_ metrics; nil means none.
	Registerer prometheus.Registerer `json:"-"`
	// Progress, when set, is called about once per second with the state so
	// far, from a goroutine of its own.
	Progress func(Snapshot) `json:"-"`
}

// NoSenders as Config.Senders runs a connect-only test.
const NoSenders = -1

// Churn modes, the values of Config.ChurnMode.
const (
	ChurnLeave = "leave"
	ChurnCut   = "cut"
)

// Protocols, the values of Config.Protocol.
const (
	ProtocolChat = "chat"
	ProtocolRaw  = "raw"
)

// ErrConfig wraps every error Validate returns.
var ErrConfig = errors.New("invalid configuration")

func (c Config) withDefaults() Config {
	if len(c.URLs) == 0 {
		if c.URL == "" {
			c.URL = DefaultURL
		}
		c.URLs = []string{c.URL}
	}
	c.URL = c.URLs[0]
	if c.Clients == 0 {
		c.Clients = DefaultClients
		if len(c.Stages) > 0 {
			c.Clients = maxTarget(c.Stages)
		}
	}
	if c.ChurnMode == "" {
		c.ChurnMode = ChurnLeave
	}
	if c.Protocol == "" {
		c.Protocol = ProtocolChat
	}
	if c.Backoff == 0 {
		c.Backoff = DefaultBackoff
	}
	if c.Ramp == 0 {
		c.Ramp = DefaultRamp
	}
	if c.Room == "" {
		c.Room = DefaultRoom
	}
	if c.Rooms == 0 {
		c.Rooms = DefaultRooms
	}
	switch c.Senders {
	case 0:
		c.Senders = min(DefaultSenders, c.Clients)
	case NoSenders:
		c.Senders = 0
	}
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if c.Size == 0 {
		c.Size = DefaultSize
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.Settle == 0 {
		c.Settle = DefaultSettle
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c
}

// Validate fills defaults and reports the first problem with c, wrapped in
// ErrConfig, with a message meant for the person who typed the flags. It
// checks that each source address belongs to this machine by binding a
// socket to it; it opens no connection.
func (c Config) Validate() error {
	c = c.withDefaults()
	_, err := c.validate()
	return err
}

// validate returns c's base URLs parsed, or why c cannot run.
func (c Config) validate() ([]*url.URL, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	var urls []*url.URL
	for _, raw := range c.URLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			return nil, bad("-url %q must be ws://host:port or wss://host:port", raw)
		}
		if u.Scheme == "wss" {
			return nil, bad("-url %q: wss:// is not supported yet; run the load test against the server's plain ws:// listener", raw)
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return nil, bad("-url %q must not carry a query or fragment", raw)
		}
		urls = append(urls, u)
	}
	if err := validateStages(c.Stages, c.Clients); err != nil {
		return nil, bad("%v", err)
	}
	switch {
	case len(c.RoomRates) > 0 && len(c.RoomRates) != c.Rooms:
		return nil, bad("-room-rates has %d rates for -rooms %d; give one rate per room, e.g. -rooms 3 -room-rates 10,1,0", len(c.RoomRates), c.Rooms)
	case slices.ContainsFunc(c.RoomRates, func(r float64) bool { return r < 0 }):
		return nil, bad("-room-rates must not be negative, got %v", c.RoomRates)
	case c.ChurnMode != ChurnLeave && c.ChurnMode != ChurnCut:
		return nil, bad("-churn-mode must be %s or %s, got %q", ChurnLeave, ChurnCut, c.ChurnMode)
	case c.Churn > 0 && len(c.Stages) > 0:
		return nil, bad("-churn cannot be combined with -stages (the stages decide who is connected); use -reconnect to have dropped clients come back")
	case c.Backoff < 0:
		return nil, bad("-backoff must be positive, got %v", c.Backoff)
	case c.Protocol != ProtocolChat && c.Protocol != ProtocolRaw:
		return nil, bad("-protocol must be %s or %s, got %q", ProtocolChat, ProtocolRaw, c.Protocol)
	case c.Protocol == ProtocolRaw && (c.Rooms > 1 || c.Reconnect || c.ChurnMode == ChurnCut || c.TokenSecretFile != ""):
		return nil, bad("-protocol raw speaks to a server with one room and no resume or tokens: it cannot be combined with -rooms, -reconnect, -churn-mode cut or -token-secret-file")
	}
	switch {
	case c.Clients < 0:
		return nil, bad("-clients must be positive, got %d", c.Clients)
	case c.Ramp < 0:
		return nil, bad("-ramp must be positive, got %g", c.Ramp)
	case c.Rooms < 0:
		return nil, bad("-rooms must be positive, got %d", c.Rooms)
	case c.Senders < 0:
		return nil, bad("-senders must not be negative, got %d", c.Senders)
	case c.Senders > c.Clients:
		return nil, bad("-senders %d is more than -clients %d", c.Senders, c.Clients)
	case c.Rate < 0:
		return nil, bad("-rate must be positive, got %g", c.Rate)
	case c.Size < wire.MinPayload:
		return nil, bad("-size %d is too small: every message carries a %d-byte measurement payload (sender, sequence, send time); use -size %d or more", c.Size, wire.MinPayload, wire.MinPayload)
	case c.Size > MaxSize:
		return nil, bad("-size must be at most %d bytes, got %d", MaxSize, c.Size)
	case c.Duration < 0:
		return nil, bad("-duration must be positive, got %v", c.Duration)
	case c.Settle < 0:
		return nil, bad("-settle must be positive, got %v", c.Settle)
	case c.Churn < 0:
		return nil, bad("-churn must not be negative, got %g", c.Churn)
	case c.ClientsPerProcess < 0:
		return nil, bad("-clients-per-process must not be negative, got %d", c.ClientsPerProcess)
	case c.DialTimeout < 0:
		return nil, bad("dial timeout must be positive, got %v", c.DialTimeout)
	}
	longest := c.Room
	if c.Rooms > 1 {
		longest = roomName(c.Room, c.Rooms, c.Rooms-1)
	}
	if n := utf8.RuneCountInString(longest); n > 32 || !utf8.ValidString(longest) || strings.ContainsFunc(longest, isControl) {
		return nil, bad("room name %q must be 1 to 32 characters without control characters", longest)
	}
	for _, ip := range c.SourceIPs {
		if err := checkSourceIP(ip, urls); err != nil {
			return nil, bad("-source-ips: %v", err)
		}
	}
	return urls, nil
}

func isControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r < 0xa0) }

// roomName is the name of room k of n.
func roomName(base string, n, k int) string {
	if n <= 1 {
		return base
	}
	return fmt.Sprintf("%s-%d", base, k)
}
