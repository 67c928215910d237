package server_test

import (
	"time"

	"github.com/chatplatform/chat/internal/hub"
)

func hubIdle(d time.Duration) hub.Config { return hub.Config{IdleTimeout: d} }
