"""Browser tests of the review dashboard (Playwright driving the system Chromium)."""
