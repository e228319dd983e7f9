package imc

import "github.com/chatload/chatload/engine"

// The message scenario finds page mode by asserting engine.Pager on a session.
var _ engine.Pager = (*session)(nil)
