package scenarios

import (
	"context"
	"errors"
)

// Login is the log-on storm; unit: one log on and log off of a user.
const Login = "login"

// login is the Login scenario.
type login struct{}

func (login) Name() string { return Login }

func (login) Uses() Uses { return Uses{Segment: ByUser, PerVU: true, PerOp: true} }

func (login) Defaults(*Config) {}

func (login) Check(Config) error { return nil }

func (login) Plan(_ Config, take []int) Plan { return Plan{Users: take} }

func (login) Head(Config, []User) string { return "register" }

// Setup logs nobody on: logging on is the operation.
func (login) Setup(_ context.Context, _ Config, p Plan, s Setup) error {
	for _, u := range p.Users {
		s.Login(u)
	}
	if len(p.Users) == 0 {
		return errors.New("the plan has no users")
	}
	return nil
}
