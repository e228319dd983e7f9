package xccos

import (
	"testing"

	"github.com/chatload/chatload/engine"
)

// TestProtocolDescribesSessions: the descriptor validation reads says what the
// driver's sessions really can do (the engine finds each by type assertion).
func TestProtocolDescribesSessions(t *testing.T) {
	p := Protocol()
	var s any = (*session)(nil)
	_, page := s.(engine.Pager)
	_, async := s.(engine.AsyncSender)
	_, hist := s.(engine.HistoryFetcher)
	if page != p.Page || async != p.AsyncSend || hist != p.History {
		t.Errorf("Protocol() = %v; the sessions have page %v, async-send %v, history %v", p, page, async, hist)
	}
	if len(p.Transports) == 0 || p.Name != "xccos" {
		t.Errorf("Protocol() = %v; want named xccos with a default transport", p)
	}
}
