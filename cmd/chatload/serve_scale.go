package main

import (
	"github.com/spf13/cobra"

	"github.com/chatload/chatload/server"
)

// serveScale are serve's flags for large rooms and user counts.
type serveScale struct {
	announceMax int
}

func addScaleFlags(cmd *cobra.Command, s *serveScale) {
	cmd.Flags().IntVar(&s.announceMax, "announce-max", 0, "in rooms with more members than `N`, tell a #join or #exit only to the member who joined or left (imc tells every member: a 16,000-member room's joins would cost 128 million notices) (default 0: tell everyone, as imc)")
}

func (s serveScale) apply(cfg *server.Config) error {
	if s.announceMax < 0 {
		return usageErr("--announce-max %d: must not be negative", s.announceMax)
	}
	cfg.AnnounceMax = s.announceMax
	return nil
}
