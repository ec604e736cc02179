package server

import (
	"strings"
)

// botAgents are lowercase substrings of the User-Agent headers of crawlers
// and link-preview fetchers: search engines, social networks and chat apps
// that fetch a link when it is posted. Their clicks are recorded with
// "bot": true and count neither in click_count, nor in stats, nor against
// max_clicks. The list names products rather than matching "bot" alone,
// because some phone models carry "bot" in their names, and leaves out apps
// whose in-app browsers people click through (Snapchat, Teams).
var botAgents = []string{
	"googlebot", "google-inspectiontool", "adsbot-google", "mediapartners-google",
	"bingbot", "bingpreview", "msnbot", "slurp", "duckduckbot", "baiduspider",
	"yandexbot", "yandeximages", "sogou", "exabot", "applebot", "petalbot",
	"seznambot", "ahrefsbot", "semrushbot", "mj12bot", "dotbot", "gptbot",
	"ccbot", "claudebot", "perplexitybot", "bytespider", "amazonbot",
	"ia_archiver", "archive.org_bot",
	"facebookexternalhit", "facebookcatalog", "facebot", "meta-externalagent",
	"twitterbot", "linkedinbot", "pinterestbot", "redditbot",
	"slackbot", "slack-imgproxy", "discordbot", "telegrambot", "whatsapp",
	"skypeuripreview", "microsoftpreview", "embedly", "quora link preview",
	"vkshare", "mastodon", "bitlybot", "iframely", "outbrain",
	"nuzzel", "line-poker", "kakaotalk-scrap",
	"google-pagerenderer", "googleother", "chrome-lighthouse", "headlesschrome",
	"uptimerobot", "pingdom", "statuscake",
}

// isBot reports whether a User-Agent header belongs to a crawler or a
// link-preview fetcher.
func isBot(userAgent string) bool {
	if userAgent == "" {
		return false
	}
	ua := strings.ToLower(userAgent)
	for _, token := range botAgents {
		if strings.Contains(ua, token) {
			return true
		}
	}
	return false
}
