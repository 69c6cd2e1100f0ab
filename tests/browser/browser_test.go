package browser

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/veil-privacy/veil/tests/veiltest"
)

// The viewport every screenshot has.
const (
	width  = 1280
	height = 900
)

// chromium finds the browser: VEIL_CHROMIUM, then Debian's package.
func chromium(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("VEIL_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser"}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed (apt-get install chromium); the browser test must run in CI")
	}
	t.Skip("chromium is not installed; apt-get install chromium to run the browser test")
	return ""
}

// session is one headless browser with one tab.
type session struct {
	t    *testing.T
	ctx  context.Context
	dir  string
	step int
}

func start(t *testing.T) *session {
	exe := chromium(t)
	// As root (CI, these machines) Chromium needs --no-sandbox; the rest
	// keeps it off the network and quiet.
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	dir := filepath.Join("screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Without a CJK font the Chinese screenshots show empty boxes; the
	// DOM checks still hold, so this is a warning, not a failure.
	if out, err := exec.Command("fc-list", ":lang=zh", "family").Output(); err == nil && len(bytes.TrimSpace(out)) == 0 {
		t.Log("no Chinese font installed (apt-get install fonts-wqy-zenhei): Chinese screenshots will show boxes")
	}
	s := &session{t: t, ctx: bctx, dir: dir}
	s.do(chromedp.EmulateViewport(width, height))
	return s
}

// do runs actions, failing the test on an error.
func (s *session) do(steps ...chromedp.Action[chromedp.Void]) {
	s.t.Helper()
	if err := chromedp.Do(s.ctx, steps...); err != nil {
		s.t.Fatalf("browser: %v", err)
	}
}

func (s *session) text(sel string) string {
	s.t.Helper()
	v, err := chromedp.Run(s.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		s.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(v)
}

func (s *session) attr(sel, name string) string {
	s.t.Helper()
	v, err := chromedp.Run(s.ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err != nil {
		s.t.Fatalf("attribute %s of %s: %v", name, sel, err)
	}
	return v.Value
}

func (s *session) eval(js string) bool {
	s.t.Helper()
	v, err := chromedp.Run(s.ctx, chromedp.Evaluate[bool](js))
	if err != nil {
		s.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// shot saves a screenshot of the viewport as the next numbered step and
// checks it is a real picture of the page: a PNG of the viewport's size
// that is not one flat colour.
func (s *session) shot(name string) {
	s.t.Helper()
	b, err := chromedp.Run(s.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		s.t.Fatalf("screenshot %s: %v", name, err)
	}
	s.step++
	file := filepath.Join(s.dir, fmt.Sprintf("%02d-%s.png", s.step, name))
	if err := os.WriteFile(file, b, 0o644); err != nil {
		s.t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		s.t.Fatalf("%s is not a PNG: %v", file, err)
	}
	if got := img.Bounds().Size(); got != (image.Point{X: width, Y: height}) {
		s.t.Fatalf("%s is %v, want %dx%d", file, got, width, height)
	}
	if n := colours(img, 64); n < 8 {
		s.t.Fatalf("%s has %d colours: a blank page?", file, n)
	}
	s.t.Logf("screenshot %s (%d bytes)", file, len(b))
}

// colours counts distinct colours on a sparse grid, stopping at max.
func colours(img image.Image, max int) int {
	seen := map[[4]uint32]bool{}
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y += 7 {
		for x := r.Min.X; x < r.Max.X; x += 7 {
			cr, cg, cb, ca := img.At(x, y).RGBA()
			seen[[4]uint32{cr, cg, cb, ca}] = true
			if len(seen) >= max {
				return len(seen)
			}
		}
	}
	return len(seen)
}

var sixDigits = regexp.MustCompile(`\b(\d{6})\b`)

// TestCopyRequestThroughThePortal is what a person does: open the privacy
// center, ask for a copy of their data, read the code in their mail, enter
// it, and see their request verified with its due date.
func TestCopyRequestThroughThePortal(t *testing.T) {
	b := start(t)
	s := veiltest.Start(t, nil)
	const email = "han.meimei@example.com"

	// The page's script and style load under the strict CSP, and no
	// violation or error reaches the console.
	var mu sync.Mutex
	var logged []chromedp.ConsoleMessage
	console := chromedp.Console(b.ctx)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			mu.Lock()
			logged = append(logged, m)
			mu.Unlock()
		}
	}()

	b.do(chromedp.Navigate(s.URL+"/?lang=en"), chromedp.WaitVisible(chromedp.ID("start-copy")))
	if got := b.attr("html", "lang"); got != "en" {
		t.Fatalf("html lang = %q", got)
	}
	if h := b.text("h1"); h != "Your personal information rights" {
		t.Fatalf("home heading %q", h)
	}
	b.shot("home")

	b.do(chromedp.Click(chromedp.ID("start-copy")), chromedp.WaitVisible(chromedp.ID("request-form")))
	// The script hides what a copy request does not need.
	if !b.eval(`document.querySelector('[data-for="portability"]').hidden && document.querySelector('[data-for="correct"]').hidden`) {
		t.Fatal("the type-specific fields are not hidden: portal.js did not run")
	}
	if got := b.attr("#f-type", "id"); got != "f-type" || !b.eval(`document.getElementById("f-type").value === "copy"`) {
		t.Fatal("the copy type is not preselected")
	}
	if !b.eval(`document.querySelector('label[for="f-email"]') !== null`) {
		t.Fatal("the email field has no label")
	}
	b.do(chromedp.SendKeys(chromedp.ID("f-email"), email),
		chromedp.SendKeys(chromedp.ID("f-details"), "Please include my consent history."))
	b.shot("form")

	b.do(chromedp.Click(chromedp.ID("submit-request")), chromedp.WaitVisible(chromedp.ID("verify-form")))
	id := b.text("#request-id")
	if !regexp.MustCompile(`^[0-9a-f-]{36}$`).MatchString(id) {
		t.Fatalf("request id on the page: %q", id)
	}
	if got := b.attr("#request-status", "data-status"); got != "identity_unverified" {
		t.Fatalf("status before the code: %q", got)
	}
	if !strings.Contains(b.text("#flash"), "sent a code") {
		t.Fatalf("no notice that a code was sent: %q", b.text("#flash"))
	}
	if b.eval(`location.search.includes("token")`) {
		t.Fatal("the token is left in the address bar")
	}
	b.shot("submitted")

	m := s.WaitMail(email, id, 15*time.Second)
	code := sixDigits.FindStringSubmatch(m.Text)
	if code == nil {
		t.Fatalf("no code in the mail:\n%s", m.Text)
	}
	// Typed with a space in the middle, as people do.
	b.do(chromedp.SendKeys(chromedp.ID("f-code"), code[1][:3]+" "+code[1][3:]))
	b.shot("code")
	b.do(chromedp.Click(chromedp.ID("verify-button")), chromedp.WaitVisible(chromedp.ID("due-date")),
		chromedp.WaitNotPresent(chromedp.ID("verify-form")))

	status := b.attr("#request-status", "data-status")
	switch status {
	case "verified", "in_progress", "completed":
	default:
		t.Fatalf("status after the code: %q", status)
	}
	due := b.attr("#due-date time", "datetime")
	dueAt, err := time.Parse(time.RFC3339, due)
	if err != nil || !dueAt.After(time.Now()) {
		t.Fatalf("due date %q: %v", due, err)
	}
	if shown := b.text("#due-date"); shown != dueAt.In(shanghai(t)).Format(time.DateOnly) {
		t.Fatalf("due date shown as %q for %s", shown, due)
	}
	if !strings.Contains(b.text("#flash"), "identity is verified") {
		t.Fatalf("no notice of the verification: %q", b.text("#flash"))
	}
	if !strings.Contains(b.text("table.history"), "Verified") {
		t.Fatalf("history lacks the verification: %q", b.text("table.history"))
	}
	b.shot("verified")

	// The same page in Chinese, through the switch link.
	b.do(chromedp.Click(chromedp.ID("lang-switch")), chromedp.WaitVisible(chromedp.ID("request-status")))
	if got := b.attr("html", "lang"); got != "zh-CN" {
		t.Fatalf("html lang after switching = %q", got)
	}
	if h := b.text("h1"); h != "您的请求" {
		t.Fatalf("Chinese heading %q", h)
	}
	b.shot("verified-zh")

	// Keyboard: the first Tab reaches the skip link, and it is visible
	// when focused.
	b.do(chromedp.KeyEvent("\t"))
	if !b.eval(`document.activeElement.classList.contains("skip") && document.activeElement.getBoundingClientRect().left >= 0`) {
		t.Fatal("the skip link is not the first stop of the keyboard, or stays off screen")
	}

	mu.Lock()
	defer mu.Unlock()
	for _, m := range logged {
		if m.Type == "error" || m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
			t.Errorf("console: %s", m.Text)
		}
	}
}

func shanghai(t *testing.T) *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	return l
}
