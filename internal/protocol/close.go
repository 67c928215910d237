package protocol

import "github.com/gobwas/ws"

// Close is why a connection ends: the close code sent to the client (zero
// when no close frame is sent), the close frame's text, and the label that
// counts it in chat_connections_closed_total. One value per reason keeps
// the three together.
type Close struct {
	Code  ws.StatusCode
	Text  string
	Label string
}

// Reasons a connection closes.
var (
	// CloseNormal echoes a client's own close frame; Code is replaced by
	// the client's code.
	CloseNormal        = Close{Code: ws.StatusNormalClosure, Label: "normal"}
	CloseShutdown      = Close{Code: ws.StatusGoingAway, Text: "server shutting down", Label: "shutdown"}
	CloseProtocolError = Close{Code: ws.StatusProtocolError, Text: "protocol error", Label: "protocol_error"}
	CloseInvalidUTF8   = Close{Code: ws.StatusInvalidFramePayloadData, Text: "invalid UTF-8 in text", Label: "invalid_utf8"}
	CloseBinary        = Close{Code: ws.StatusUnsupportedData, Text: "binary frames are not supported", Label: "binary"}
	CloseTooBig        = Close{Code: ws.StatusMessageTooBig, Text: "message too big", Label: "too_big"}
	CloseRateLimited   = Close{Code: ws.StatusPolicyViolation, Text: "rate limit exceeded", Label: "rate_limited"}
	CloseSlowConsumer  = Close{Code: CodeSlowConsumer, Text: "slow consumer: outbound queue full or stalled", Label: "slow_consumer"}
	CloseIdleTimeout   = Close{Code: CodeIdleTimeout, Text: "idle timeout", Label: "idle_timeout"}
	ClosePanic         = Close{Code: ws.StatusInternalServerError, Text: "internal error", Label: "panic"}
	CloseTokenExpired  = Close{Code: CodeTokenExpired, Text: "token expired", Label: "token_expired"}
	CloseReplaced      = Close{Code: CodeReplaced, Text: "replaced by a newer connection with this client_id", Label: "replaced"}
	// ClosePeerGone and CloseWriteError send no close frame: the
	// connection is already unusable.
	ClosePeerGone   = Close{Label: "peer_gone"}
	CloseWriteError = Close{Label: "write_error"}
)

// Closes lists every reason, so that metrics can start each at zero.
var Closes = []Close{CloseNormal, CloseShutdown, CloseProtocolError, CloseInvalidUTF8, CloseBinary, CloseTooBig,
	CloseRateLimited, CloseSlowConsumer, CloseIdleTimeout, ClosePanic, CloseTokenExpired, CloseReplaced,
	ClosePeerGone, CloseWriteError}

// Frame returns the close frame to send for c, or nil when c sends none.
func (c Close) Frame() []byte {
	if c.Code == 0 {
		return nil
	}
	return CloseFrame(c.Code, c.Text)
}
