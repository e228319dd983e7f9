package scenarios

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Message sends page-mode MESSAGEs from each user to To, without rooms; unit: one
// MESSAGE. With NoRegister the users are not registered first, so any SIP UAS
// (such as SIPp's) is a target.
const Message = "message"

// message is the Message scenario (no To by default: the user must say).
type message struct{}

func (message) Name() string { return Message }

func (message) Uses() Uses { return Uses{Posts: true, To: true, Segment: ByUser} }

func (message) Defaults(*Config) {}

func (message) Check(c Config) error {
	if c.To == "" {
		return errors.New("--to: the message scenario needs the request URI to send to, such as --to sip:uas@host")
	}
	if strings.ContainsAny(c.To, " \t\r\n") {
		return fmt.Errorf("--to %q: want a SIP URI such as sip:uas@host", c.To)
	}
	return nil
}

func (message) Plan(_ Config, take []int) Plan { return Plan{Users: take} }

// Head is delivery when To is one of the run's users (its copies are tracked), else
// send.
func (message) Head(c Config, users []User) string {
	for _, u := range users {
		if SameURI(u.URI, c.To) {
			return "delivery"
		}
	}
	return "send"
}

// Setup logs the users on; each sends to To, expected to be received by the run's
// own user at To when there is one logged on.
func (message) Setup(ctx context.Context, c Config, p Plan, s Setup) error {
	_, done, err := logonAll(ctx, s, p, nil)
	if done {
		return err
	}
	rcv := -1
	for u, user := range s.Users() {
		if s.LoggedOn(u) && SameURI(user.URI, c.To) {
			rcv = u
			break
		}
	}
	for _, u := range p.Users {
		if !s.LoggedOn(u) {
			continue
		}
		if err := s.Page(u, c.To, rcv); err != nil {
			return err
		}
	}
	return nil
}
