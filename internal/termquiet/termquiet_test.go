package termquiet

import (
	"bytes"
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"
)

// TestConsoleKeepsStylesUnderCI: a job's CI variable does not strip the
// console's colours and bold; NO_COLOR still does.
func TestConsoleKeepsStylesUnderCI(t *testing.T) {
	defer lipgloss.SetDefaultRenderer(lipgloss.DefaultRenderer())
	t.Setenv("TERM", "xterm-256color")
	t.Setenv("CI", "true")
	t.Setenv("NO_COLOR", "")
	Console(&bytes.Buffer{})
	if s := lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("9")).Render("x"); !strings.Contains(s, "\x1b[") {
		t.Errorf("with CI set the console's style renders %q, no escape sequence", s)
	}
	t.Setenv("NO_COLOR", "1")
	Console(&bytes.Buffer{})
	if s := lipgloss.NewStyle().Foreground(lipgloss.Color("9")).Render("x"); strings.Contains(s, "\x1b[") {
		t.Errorf("with NO_COLOR set the console's style renders %q, want no colour", s)
	}
}
