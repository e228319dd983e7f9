// Command chatload tells whether a SIP persistent-chat service works and how much it
// can take. The contract is in docs/spec/, the design in docs/design.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/emiago/sipgo/sip"
	"github.com/spf13/cobra"
)

// exitError carries an exit status out of a command.
type exitError struct {
	code int
	err  error // nil when the command already said everything
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// usageErr marks bad input (exit 2).
func usageErr(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// env is what commands may touch of the process: streams, environment variables
// and DNS. Tests replace them; only main uses the real process.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// lookupSRV is net.DefaultResolver.LookupSRV; tests replace it so that they
	// never query a resolver off loopback.
	lookupSRV func(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
	// lookupHost is net.DefaultResolver.LookupHost (nil: that one), for the same reason.
	lookupHost func(ctx context.Context, host string) ([]string, error)
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:           "chatload",
		Short:         "Test and load SIP persistent-chat services (Kamailio imc, Lync/Skype Persistent Chat)",
		Long:          "Test and load SIP persistent-chat services (Kamailio imc, Lync/Skype Persistent Chat).\n\n" + exitStatusHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionLine(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetIn(e.stdin)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: 2, err: fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())}
	})
	root.AddCommand(newVersionCmd(e), newTestCmd(e), newWatchCmd(e), newServeCmd(e), newRunCmd(e), newReportCmd(e), newCompareCmd(e), newMergeCmd(e), newCapacityCmd(e))
	return root
}

// run executes chatload with args and returns its exit status.
func run(ctx context.Context, args []string, e *env) int {
	stderr := e.stderr
	root := newRoot(e)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "chatload:", ee.err)
		}
		if ee.err == nil {
			return ee.code // said everything (with --nagios: the plugin's own status)
		}
		return nagiosUnknown(args, ee.code, ee.err.Error(), e.stdout)
	}
	// cobra's own errors (unknown command, bad args) are usage errors.
	fmt.Fprintln(stderr, "chatload:", err)
	return nagiosUnknown(args, 2, err.Error(), e.stdout)
}

func main() {
	// sipgo logs transport noise (e.g. "TCP ref went negative" at shutdown) through a
	// process-wide logger; only errors are worth a user's attention.
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	slog.SetDefault(quiet)
	sip.SetDefaultLogger(quiet)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// A second signal exits at once.
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], &env{
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
		getenv: os.Getenv, lookupSRV: net.DefaultResolver.LookupSRV, lookupHost: net.DefaultResolver.LookupHost,
	}))
}

// completeValues makes the shell completion of flag name offer values.
func completeValues(cmd *cobra.Command, name string, values ...string) {
	_ = cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
}
