// Command webhook-receiver takes encoder webhooks (Bitmovin's contract), verifies
// their signature and publishes EncodingFinished or EncodingFailed.
package main

import (
	"github.com/pertitle/pertitle/pkg/svc"
	"github.com/pertitle/pertitle/services/webhook-receiver/internal/service"
)

func main() { svc.Main("webhook-receiver", service.Run) }
