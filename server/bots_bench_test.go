package server

import "testing"

func BenchmarkIsBotBrowser(b *testing.B) {
	ua := "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
	b.ReportAllocs()
	for b.Loop() {
		isBot(ua)
	}
}

func BenchmarkBotVerdictsBrowser(b *testing.B) {
	ua := "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
	var v botVerdicts
	b.ReportAllocs()
	for b.Loop() {
		v.isBot(ua)
	}
}
