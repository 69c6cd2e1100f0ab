// Package browser holds the privacy center's browser test: it drives
// Debian's headless Chromium through the Chrome DevTools Protocol
// (github.com/chromedp/chromedp) against a real suite, through submit →
// the code from the outbox → verify → status, and keeps a screenshot of
// each step under screenshots/ (not committed).
//
// Locally the test skips when no Chromium is installed; under CI (CI set)
// a missing browser fails it, so the flow cannot silently stop being
// tested. VEIL_CHROMIUM names another browser binary.
package browser
